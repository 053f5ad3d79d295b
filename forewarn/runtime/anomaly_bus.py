"""Build the anomaly bus a runtime needs: local clients always; Redis and MQTT when configured."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from forewarn.settings import Settings
from forewarn.stream.bus import AnomalyBus, dropped_counter
from forewarn.stream.mqtt_publisher import MqttPublisher
from forewarn.stream.redis_fanout import RedisFanout


def build_anomaly_bus(settings: Settings, registry: CollectorRegistry) -> AnomalyBus:
    """The bus, with a Redis fan-out if FOREWARN_REDIS_URL and a publisher if FOREWARN_MQTT_URL."""
    bus = AnomalyBus(queue_size=settings.ws_queue_size, dropped=dropped_counter(registry))
    size = settings.stream_queue_size
    if settings.redis_url:
        channel = settings.anomaly_channel
        bus.add_sink(
            RedisFanout(
                settings.redis_url, channel, bus.deliver_local, queue_size=size, dropped=bus.dropped
            )
        )
    if settings.mqtt_url:
        topic = settings.anomaly_topic
        bus.add_sink(MqttPublisher(settings.mqtt_url, topic, queue_size=size, dropped=bus.dropped))
    return bus
