//! Test quote signing for the simulated TD: a test root CA, PCK chain, QE report and attestation
//! key generated at run time.
