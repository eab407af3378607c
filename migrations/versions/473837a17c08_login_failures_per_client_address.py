"""login failures per client address

Lockout counts failures per (email, client address) pair, as Auth0 does, plus an
email's failures from every address together: a lock on the email alone let anybody
who knows it keep its owner out. ``source`` is a digest of the address bucket, or
"*" for the count across addresses; it joins ``account`` in the primary key.

Existing rows counted an email from every address: they become its "*" rows (a lock
they hold stays until it passes; their counts now meet the account-wide threshold).
Downgrading keeps only those rows.

Revision ID: 473837a17c08
Revises: d6954dbed0fc
Create Date: 2026-12-06 23:27:56.347261

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '473837a17c08'
down_revision = 'd6954dbed0fc'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        # The default fills the existing rows, then goes: the service always says which source.
        batch_op.add_column(sa.Column('source', sa.String(length=64), nullable=False, server_default='*'))
        batch_op.drop_constraint('pk_login_failures', type_='primary')
        batch_op.create_primary_key('pk_login_failures', ['account', 'source'])
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.alter_column('source', server_default=None)


def downgrade():
    op.execute("DELETE FROM login_failures WHERE source <> '*'")
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.drop_constraint('pk_login_failures', type_='primary')
        batch_op.create_primary_key('pk_login_failures', ['account'])
        batch_op.drop_column('source')
