"""Settings of the bare Channels fan-out server (the benchmark's reference, not the product)."""

import os

SECRET_KEY = "bench-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["daphne", "channels"]
ASGI_APPLICATION = "bench.bare.asgi.application"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # The one setting the tutorial leaves out that the benchmark cannot do without:
        # redis-py's pool of 100 fails group_discard when 1,000 sockets close at once.
        "CONFIG": {
            "hosts": [{"address": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/7"), "max_connections": 1000}],
            "prefix": "barebench",
        },
    }
}
