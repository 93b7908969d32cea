// Gives libndsr.so a SONAME (cargo sets none): libndsr.so.<major>.
fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libndsr.so.{major}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
