//! What more than one test file uses.

pub mod html_check;
