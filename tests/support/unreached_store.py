"""A store address for app tests whose requests never reach a store.

``connect=false`` keeps the driver from dialling it in the background: a monitor cancelled
mid-connect when the app shuts down leaves its socket to the garbage collector
(mongo-python-driver PYTHON-3923), which then warns in whichever test collects it."""

from pydantic import SecretStr

UNREACHED_STORE_URI = SecretStr("mongodb://127.0.0.1:1/?connect=false")
