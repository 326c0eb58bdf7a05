"""The data life cycle: what the store holds per dataset, how long it keeps it, and expiring what a dataset's
retention ends (``smartcity data status|expire``)."""
