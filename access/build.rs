// sqlx::migrate! embeds migrations/ at compile time: a new file there must
// rebuild the crate (as sqlx documents).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
