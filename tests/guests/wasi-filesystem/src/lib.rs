//! Reads a file through WASI's own filesystem instead of the `files-read`
//! capability: the runtime must refuse it before it runs.

use salve_sdk::ActionError;

fn run(path: String) -> Result<String, ActionError> {
    std::fs::read_to_string(&path).map_err(|e| ActionError::failed(e.to_string()))
}

salve_sdk::action!(run);
