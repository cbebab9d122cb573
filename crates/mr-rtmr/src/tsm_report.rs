//! configfs-tsm report client (Linux 6.7 ABI, SPECS §9.1).
