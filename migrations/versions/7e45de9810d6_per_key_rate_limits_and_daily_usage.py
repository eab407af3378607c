"""per-key rate limits and daily usage (issue 15, SPEC §14)

API keys: an optional rate limit, ``rate_limit_requests`` per ``rate_limit_window``
seconds, both or neither (a check constraint, which autogenerate does not compare:
added here by hand, with the name the models' naming convention gives it). Existing
keys get no limit, as before.

``api_key_usage``: verifications per key and UTC day, added up by the background
writer with an UPSERT on the primary key (key, day); rows go with their key.

Revision ID: 7e45de9810d6
Revises: 473837a17c08
Create Date: 2026-12-06 23:14:44.886284

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7e45de9810d6'
down_revision = '473837a17c08'
branch_labels = None
depends_on = None

RATE_LIMIT_CHECK = (
    "(rate_limit_requests IS NULL AND rate_limit_window IS NULL) OR "
    "(rate_limit_requests BETWEEN 1 AND 1000000 AND rate_limit_window BETWEEN 1 AND 86400)"
)


def upgrade():
    op.create_table('api_key_usage',
    sa.Column('key_id', sa.String(length=40), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('verified', sa.BigInteger(), nullable=False),
    sa.Column('refused', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['key_id'], ['api_keys.id'], name=op.f('fk_api_key_usage_key_id_api_keys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('key_id', 'day', name=op.f('pk_api_key_usage'))
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rate_limit_requests', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('rate_limit_window', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_api_keys_rate_limit'), RATE_LIMIT_CHECK)


def downgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_api_keys_rate_limit'), type_='check')
        batch_op.drop_column('rate_limit_window')
        batch_op.drop_column('rate_limit_requests')

    op.drop_table('api_key_usage')
