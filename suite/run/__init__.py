"""Running cases: planning, scheduling, executing, and the dry run. The rest of the suite never imports this room.

One run flows one way:

1. ``settings.RunSettings`` is built once, from the CLI or the Python API, and passed whole (to worker processes
   and Ray tasks as its JSON form).
2. ``plan.make_plan`` reads the results folder once and decides what the run will do: which jobs (case x seed)
   are done already, which can't run, and in what order the rest go (``order``), fitted to ``--budget`` by the one
   time estimator (``estimate``). ``suite run --dry-run`` renders this same plan (``dryrun``, ``dryrun_view``).
3. ``schedule.run_cases`` locks the folder, hands the plan's jobs to an executor (``executors``: a worker process
   per job, this process, or Ray tasks) and appends each row as it comes, so a killed run loses only the jobs in
   flight and a rerun completes the set.
4. In the job's process, ``runner.Runner`` runs the case's ``steps`` (search, resolve, build, train, evaluate,
   measure, formats) into one row, and never raises.
"""
