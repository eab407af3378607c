"""soft-deleted projects; pepper ids no longer hashes of the pepper

Projects: deleting one keeps its row (``deleted_at``) so its revoked API keys keep
pointing at it; the slug is unique among live projects only (a partial index, which
PostgreSQL and SQLite both have).

API keys: ``pepper_id`` was a plain SHA-256 of the pepper, an offline oracle for a
weak pepper. The new ids are HMACs under OUTTER_SECRET_KEY, which a migration does
not know: the old values become ``unknown`` and each key gets its new id the next
time it is verified (written off the request path, as pepper rotation does).

Revision ID: d6954dbed0fc
Revises: b2e914f44523
Create Date: 2026-12-06 22:18:18.887317

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd6954dbed0fc'
down_revision = 'b2e914f44523'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(batch_op.f('uq_projects_tenant_id_slug'), type_='unique')
        batch_op.create_index('uq_projects_tenant_id_slug', ['tenant_id', 'slug'], unique=True, postgresql_where=sa.text('deleted_at IS NULL'), sqlite_where=sa.text('deleted_at IS NULL'))
    # 'none' (no pepper at all) stays: it says nothing about a pepper.
    op.execute("UPDATE api_keys SET pepper_id = 'unknown' WHERE pepper_id <> 'none'")


def downgrade():
    # Deleted projects come back as live ones (their keys stay revoked); their slugs are
    # made unique first, or the old unique constraint could not be created.
    op.execute("UPDATE projects SET slug = 'deleted-' || id WHERE deleted_at IS NOT NULL")
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_index('uq_projects_tenant_id_slug', postgresql_where=sa.text('deleted_at IS NULL'), sqlite_where=sa.text('deleted_at IS NULL'))
        batch_op.create_unique_constraint(batch_op.f('uq_projects_tenant_id_slug'), ['tenant_id', 'slug'])
        batch_op.drop_column('deleted_at')
    # Pepper ids stay as they are: the old hashes cannot be (and should not be) restored.
