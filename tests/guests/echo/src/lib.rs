//! Returns its input: the trivial action the benchmarks invoke.

use salve_sdk::ActionError;
use serde_json::Value;

fn run(input: Value) -> Result<Value, ActionError> {
    Ok(input)
}

salve_sdk::action!(run);
