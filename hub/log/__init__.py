"""Events to bytes to Kafka and back: codec, schemas and their compatibility, registry client, JSON
form, producer, consumer, dead letters.
"""
