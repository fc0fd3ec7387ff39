"""The runtime of a generated training script: plan.json in, one worker's training out.

`pgc compile` copies this package's source, unchanged, next to the generated `train.py` (as
the folder `pgc_runtime/`), so a compiled folder needs torch, the standard library and the
user's model module only, never an installed pgc. Modules import each other relatively and
nothing outside this package. Layout:

    actions      the action record and its text form (the one parser, shared with the compiler)
    rules        the skip-ratio rule and its message (shared with the compiler)
    schema       plan.json's schema and validator (the one definition, shared with the compiler)
    plan         the validated plan as typed records; command-line overrides make a new one
    data         the data order: (seed, step, origin, microbatch) -> samples
    init_replay  the initial state by replaying the model's constructor
    model        import the model, build this worker's stage
    files        hashes and loads that never run code
    transport    point-to-point messages
    liveness     the watchdog, heartbeats, naming the worker that stopped answering
    groups       gradient buckets and their all-reduce
    optim        optimizer and learning-rate schedule
    checkpoint   per-worker files, manifests, resume
    report       the run log and traces
    memory       peak memory, `--memory-report` against the plan, glibc's mapping threshold
    worker       the action interpreter
    evaluate     held-out loss with stages removed
    main         flags, start-up, the training loop, exit codes
"""
