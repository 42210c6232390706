"""Site configuration: Pydantic models (``extra="forbid"``) loaded from YAML.

Import from the submodules (``safetymon.config.loader.load_site_config``,
``safetymon.config.site.SiteConfig``): this package itself imports nothing, so light users
such as the controller client (which needs only ``safetymon.config.outputs``) do not pull in
Shapely or NumPy.
"""
