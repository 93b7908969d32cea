// Gives libndsr.so a SONAME (cargo sets none), libndsr.so.<major>, and exports ndsr_* only.
fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libndsr.so.{major}");
        // Only ndsr_* is exported: the __start_/__stop_ symbols the linker makes for a
        // dependency's link sections (linkme) stay inside the library.
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,start-stop-visibility=hidden");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
