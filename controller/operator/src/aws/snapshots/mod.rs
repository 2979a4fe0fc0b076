//! What orgops reads of AWS across calls and shares between objects, each read at most
//! once per sweep (or, for enabled regions, per few hours) instead of once per object.

pub mod dns;
pub mod enabled_regions;
pub mod identity_center;
pub mod organization;
pub mod sweep;
