//! TCG PC-Client event logs (SHA-1 and crypto-agile) and the CCEL log area. See SPECS §6, §10.
