"""Reports: plots, GIFs and the summary a person reads after a run."""

from openami.report.gif import save_episode_gif
from openami.report.plots import plot_training

__all__ = ["plot_training", "save_episode_gif"]
