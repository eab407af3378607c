from setuptools import find_packages, setup

setup(
    name="outter-auth",
    version="0.1.0",
    description="Authentication service of the Outter API platform: API keys, RS256 JWTs, sessions",
    python_requires=">=3.11",
    packages=find_packages(include=["outter_auth", "outter_auth.*"])
    + ["outter_auth._migrations", "outter_auth._migrations.versions"],
    # `pip install .` carries the Alembic scripts along (a source checkout uses migrations/).
    package_dir={"outter_auth._migrations": "migrations"},
    package_data={
        "outter_auth._migrations": ["alembic.ini", "script.py.mako", "README"],
        # The pages (SPEC §11): templates and every asset they load are served by the service.
        "outter_auth": [
            "templates/*.html",
            "templates/*.svg",
            "templates/console/*.html",
            "static/css/*.css",
            "static/img/*.svg",
            "static/js/*.js",
        ],
    },
    install_requires=[
        "Flask>=3.1,<4",
        "flask-smorest>=0.46,<1",
        "marshmallow>=4,<5",
        "SQLAlchemy>=2.0,<3",
        "Flask-SQLAlchemy>=3.1,<4",
        "Flask-Migrate>=4.1,<5",
        "Authlib>=1.6,<2",
        "alembic>=1.16",
        "joserfc>=1.6,<2",
        "cryptography>=44",
        "bcrypt>=4.2,<6",
        "psycopg[binary]>=3.2,<4",
        "gunicorn>=23",
        "swagger-ui-bundle>=1.1,<2",
        "cachetools>=5.3",
        "redis>=5",
        "limits[redis]>=5,<6",
        "flask-cors>=6,<7",
        "prometheus-client>=0.20",
        "Flask-WTF>=1.2,<2",
    ],
    extras_require={
        "dev": [
            "pytest>=8",
            "pytest-xdist>=3.6",
            "ruff>=0.8",
            "mypy>=1.13",
            "PyJWT[crypto]>=2.9",
            "hypothesis>=6.100",
            "PyYAML>=6",
            "requests>=2.32",
            "schemathesis>=4.30,<5",
            # Browser tests (tests/oidc): Playwright drives Debian's chromium (no browser download).
            "playwright>=1.45",
            "axe-playwright-python>=0.1.4",
        ],
    },
    entry_points={"console_scripts": ["outter-auth=outter_auth.cli:main"]},
)
