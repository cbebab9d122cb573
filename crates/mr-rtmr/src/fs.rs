//! The file-system seam: the few operations on sysfs and configfs that RTMRs and TSM reports need.
