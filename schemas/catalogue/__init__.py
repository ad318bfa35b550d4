"""The event catalogue as Avro schema files: ``Envelope.avsc`` and one file per event type with its payload record.

Data only; :mod:`schakel.schemas` composes each type's full schema from these files.
"""
