"""The event catalogue as Avro schema files (named `avro`, not `catalogue`, so that importing it never shadows
the function `schakel.schemas.catalogue`): ``Envelope.avsc`` and one file per event type with its payload record.

Data only; :mod:`schakel.schemas` composes each type's full schema from these files.
"""
