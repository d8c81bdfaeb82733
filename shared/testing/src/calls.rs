//! Remote calls counted on the wire.
