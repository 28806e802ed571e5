"""Every report output, declared once: its file, the formats written beside it, what it shows (the index
page's text and the `snakemake --report` caption) and whether that report bundles it. The index page
(analysis.report), the rules' outputs and the Snakemake report's list are derived from here, as are the
experiments' index lines and their targets. This module imports nothing, so parsing the Snakefile stays fast."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Output:
    name: str            # the file in the report folder
    caption: str         # what it shows
    formats: tuple = ()  # the same table or figure in other formats (same stem): ("tex",), ("pdf",)
    bundled: bool = False  # in `snakemake --report report.html`, with this caption (a table as its HTML file)
    key: bool = False    # opens the index page (the main table inline, the figures that carry the story)

    @property
    def files(self) -> tuple:
        stem = self.name.rsplit(".", 1)[0]
        return (self.name, *(f"{stem}.{ext}" for ext in self.formats))

    @property
    def is_figure(self) -> bool:
        return self.name.endswith(".png")

    @property
    def bundled_file(self) -> str:
        """The file `snakemake --report` shows: a figure itself, a table's HTML rendering."""
        return self.name if self.is_figure else f"{self.name.rsplit('.', 1)[0]}.html"

    @property
    def category(self) -> str:
        return "Figures" if self.is_figure else "Tables"


def _figure(name: str, caption: str, key: bool = False) -> Output:
    return Output(name, caption, ("pdf",), bundled=True, key=key)


def _table(name: str, caption: str, key: bool = False) -> Output:
    return Output(name, caption, ("tex", "html"), bundled=True, key=key)


# The main report, in the index page's order.
MAIN_OUTPUTS = (
    _table("main_table.md", "Headline: final-policy score per task and method (mean ± std over seeds, IQM with "
           "95% bootstrap CI) beside the paper's published numbers, and aggregate IQM / median / mean / "
           "optimality gap over tasks.", key=True),
    _figure("aggregate_intervals.png",
            "Aggregate normalised final scores with 95% stratified-bootstrap CIs (rliable).", key=True),
    _figure("performance_profiles.png", "Performance profiles (rliable score distributions): the fraction of "
            "(run, task) normalised final scores above each threshold, with 95% stratified-bootstrap CI bands."),
    _figure("improvement.png", "Probability that a DBC run beats a run of each other method on a random task, "
            "with 95% CIs; an interval clear of 0.5 is a difference the seeds support.", key=True),
    _figure("per_task_scores.png", "Final score of every seed per task and method, with the paper's mean.",
            key=True),
    _figure("learning_curves.png", "IQM over seeds of each evaluation during training (100 episodes each) "
            "against the fraction of the cell's training done, per task, with 95% bootstrap CI bands; each "
            "panel's legend gives every method's training length there (updates, or GAIL's env steps)."),
    _table("data_table.md", "The demonstrations per task beside the authors' (sizes, episode lengths, the actions' "
           "spread, saturation, range and frame-to-frame change, the forward speed, the expert's score: for "
           "success tasks the expert's own success rate, the methods' ceiling)."),
    _table("best_table.md", "Best evaluation during training (optimistic, selected on the evaluation episodes; "
           "not the headline)."),
    _table("cost_table.md", "Compute cost per task and method: training, DBC's pre-training, evaluation, "
           "updates per second, peak memory, hardware."),
    Output("scores.csv", "One row per run: raw and normalised final and best scores."),
    Output("aggregates.csv", "The aggregate estimates and CIs as numbers."),
    Output("improvement.csv", "Probability of improvement of DBC over each other method, with CIs."),
    Output("performance_profiles.csv", "The performance profiles and their CI bands as numbers."),
    Output("learning_curves.csv", "The learning curves' IQM and CIs as numbers (raw scores: success in [0, 1] "
           "or return)."),
)
INDEX_PAGE = "README.md"
REPORT_FILES = tuple(name for output in MAIN_OUTPUTS for name in output.files) + (INDEX_PAGE,)
GENERALIZATION_FILES = tuple(f"generalization.{ext}" for ext in ("md", "tex", "csv", "pdf", "png"))
SENSITIVITY_FILES = tuple(f"sensitivity.{ext}" for ext in ("csv", "md", "pdf", "png"))
GUIDANCE_FILES = tuple(f"guidance.{ext}" for ext in ("csv", "md", "pdf", "png"))


@dataclass(frozen=True)
class Experiment:
    name: str          # its target, and config `experiments.<name>`
    caption: str       # the index page's line
    link: str          # its page, relative to paper/<budget>/
    runs: bool = True  # a methods x tasks experiment, reported as a main report of its own (paper/<budget>/<name>/)
    extra: tuple = ()  # further files of its own, in paper/<budget>/<name>/ (its sweep or ablation figure)


# The paper's experiments beside the main report, in the index page's order.
EXPERIMENTS = (
    Experiment("generalization", "FetchPick policies evaluated at noise ratios 1 to 2 beside the paper's table "
               "(generalization.png: success against the ratio).", "generalization.md", runs=False),
    Experiment("ablation", "DBC with and without the expert-loss normalisation, with P(DBC > ablated).",
               "ablation/README.md"),
    Experiment("regularization", "BC, L2-regularised BC and DBC: does DBC's gain exceed plain regularisation?",
               "regularization/README.md"),
    Experiment("lambda_sweep", "DBC over the authors' lambda_DM grid (lambda_sweep/sensitivity.png: final score "
               "against lambda_DM).", "lambda_sweep/sensitivity.md", extra=SENSITIVITY_FILES),
    Experiment("generative_ablation", "Maze: DBC's guidance from an EBM, a VAE, a GAN or the diffusion model, "
               "without and with the BC loss, beside the paper's table (generative_ablation/guidance.png).",
               "generative_ablation/guidance.md", extra=GUIDANCE_FILES),
    Experiment("dm_controls", "DBC against its own settings without the diffusion-model term (lambda_DM = 0) on "
               "every task: P(DBC > DBC without its term) isolates the model's effect from DBC's other settings.",
               "dm_controls/README.md"),
    Experiment("action_dm", "DBC guided by a diffusion model of the expert actions alone, p(a), beside DBC's "
               "model of p(s, a) (the paper's third open check).", "action_dm/README.md"),
    Experiment("dm_quality", "DBC's diffusion model per task: held-out loss, and how well it ranks expert actions "
               "above perturbed, BC and shuffled ones (ROC AUC).", "dm_quality.md", runs=False),
    Experiment("dm_budget", "Where DBC's term starts to act as its diffusion model grows (width, epochs, "
               "schedule), with DBC - BC per model.", "dm_budget/dm_budget.md", runs=False),
)
RUN_EXPERIMENTS = tuple(e.name for e in EXPERIMENTS if e.runs)
VIDEOS_CAPTION = ("The final policy of one run in one of its first evaluation episodes (the evaluation's own "
                  "seeds), rendered headless with MuJoCo. Each folder's episodes.json gives the episodes' seeds, "
                  "success, return and length.")
