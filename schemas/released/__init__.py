"""The released version of each event type's full schema, ``<Type>.v<N>.avsc``, exactly as it went out.

Data only. ``schakel schemas check`` compares the catalogue against the newest file per type, and the codec reads
events written with any of them. A released file is never edited: a new version is a new file.
"""
