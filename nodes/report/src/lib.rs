//! emoflow standard nodes: report family.
