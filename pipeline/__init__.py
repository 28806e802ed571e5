"""The layer between the config and the jobs: `pipeline.plan` turns config/config.yaml and its budget
into the Plan the Snakefile makes rules of; `pipeline.job` gives each job, as command-line arguments,
what the config registered (tasks defined in config, method modules from outside the suite)."""
