//! The fleet inventory (`fleet.json`, the endpoints and their keys, signed
//! by an administrator): `Inventory::load`, which reads it with
//! `InventoryFile::read` and checks its signature, as the CLI, the console
//! and the fleet's setup read it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use salve::fleet::{Inventory, InventoryFile};

fuzz_target!(|data: &[u8]| {
    let path = salve_fuzz::scratch_file("fleet.json", data);
    let _ = Inventory::load(&path, &[salve_fuzz::public()]);
    if let Ok(mut file) = InventoryFile::read(&path) {
        // Signed by an administrator, it loads with the endpoints it lists.
        file.sign(salve_fuzz::key());
        file.write(&path)
            .expect("the scratch directory is writable");
        let inventory =
            Inventory::load(&path, &[salve_fuzz::public()]).expect("a signed inventory loads");
        for (name, key) in inventory.endpoints() {
            assert_eq!(inventory.key_of(name).ok(), Some(key));
        }
    }
});
