"""The Lambda runtime, emulated in this process: handlers run in-process (`runtime`; each invocation
with its own variables, `sluice.tools.local.environ`, and its own log, `sluice.tools.local.function_logs`),
and the external extensions of a function's layers run beside them through the Extensions API
(`extensions`)."""
