"""The plugin's Alembic revision scripts (version table ``alembic_version_example``).

``finplug db upgrade`` runs them for every tenant that enables the plugin,
after the kernel's and after those of the plugins it depends on. Add a
revision by copying the last file to ``r<NNNN>_<what>.py``, setting
``revision`` and ``down_revision`` (the previous one), and writing
``upgrade()`` with ``alembic.op``. No ``env.py`` or ``alembic.ini`` is needed.
"""
