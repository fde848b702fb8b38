"""`ami memory add|query|stats|prune`: the agent's persistent memory of latent states."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from openami.cli.common import add_preset_argument, preset_from

DESCRIPTION = """\
The agent's memory: a folder of embeddings of states it has seen, with 32x32 thumbnails,
episode, step, time and the true world state (kept for evaluation only). It survives
restarts and crashes (every committed batch is kept) and grows across sessions.
  add    encode a dataset's frames with a trained run and remember them
  query  the nearest remembered states to an image or to a remembered entry
  stats  what the memory holds
  prune  shrink it while keeping its coverage of latent space
  graph  link remembered states the world model can travel between, for far-goal planning
"""


def add_parser(sub) -> None:
    p = sub.add_parser("memory", help="remember, search and prune latent states on disk",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = p.add_subparsers(dest="memory_command", metavar="ACTION", required=True)

    a = kinds.add_parser("add", help="remember a dataset's frames, encoded by a trained run",
                         description="Encode every K-th frame of each episode of --data with the encoder of --run and "
                                     "add it to --memory with a 32x32 thumbnail, its episode, step and true state. "
                                     "Creates the memory if missing (recording the run and a hash of its weights); "
                                     "refuses a memory made by another model. Commits after each batch of whole "
                                     "episodes, so an interrupted add keeps what it committed.")
    a.add_argument("--run", required=True, help="run directory made by `ami train`")
    a.add_argument("--data", required=True, help="dataset directory made by `ami collect`")
    _memory_argument(a)
    a.add_argument("--every", type=int, default=1, metavar="K", help="keep every K-th frame of an episode (default 1)")
    a.add_argument("--index", choices=("exact", "hnsw"),
                   help="search of a new memory: exact (default) or hnsw, approximate and faster on millions of "
                        "entries (needs `pip install faiss-cpu`); an existing memory keeps its own")
    a.add_argument("--device", default="cpu", help="torch device for encoding, e.g. cpu or cuda (default: cpu)")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    a.set_defaults(handler=run_add)

    q = kinds.add_parser("query", help="the nearest remembered states",
                         description="Print the k remembered entries nearest (L2 in latent space) to an image "
                                     "(--image, encoded with --run, which must be the run that made the memory) "
                                     "or to a remembered entry (--entry, which is left out of its own answer).")
    _memory_argument(q)
    what = q.add_mutually_exclusive_group(required=True)
    what.add_argument("--image", help="PNG or JPEG of an observation")
    what.add_argument("--entry", type=int, metavar="ID", help="id of a remembered entry")
    q.add_argument("-k", type=int, default=10, help="how many neighbours (default 10)")
    q.add_argument("--run", help="run that made the memory, to encode --image")
    q.add_argument("--device", default="cpu", help="torch device for encoding (default: cpu)")
    q.set_defaults(handler=run_query)

    s = kinds.add_parser("stats", help="what the memory holds",
                         description="Print the number of entries and episodes, the embedding size, the size on "
                                     "disk, the index kind, the time span and the run that made the memory.")
    _memory_argument(s)
    s.add_argument("--json", action="store_true", help="print one JSON object instead")
    s.set_defaults(handler=run_stats)

    r = kinds.add_parser("prune", help="shrink the memory, keeping its coverage",
                         description="Remove entries in one transaction; kept entries keep their ids. "
                                     "--keep-every N keeps every N-th entry in id order; --min-distance R then drops "
                                     "each entry within R (L2 in latent space) of an earlier kept one, so every "
                                     "dropped state has a kept one within R.")
    _memory_argument(r)
    r.add_argument("--min-distance", type=float, metavar="R", help="drop entries within R of an earlier kept one")
    r.add_argument("--keep-every", type=int, metavar="N", help="keep every N-th entry")
    r.set_defaults(handler=run_prune)

    g = kinds.add_parser("graph", help="link remembered states for far-goal planning",
                         description="Build the memory graph and save it as graph.npz in --memory: nodes cover the "
                                     "remembered states (one per latent neighbourhood), edges join nodes the agent was "
                                     "seen to travel between and nodes the world model of --run judges reachable in "
                                     "a few steps (its planner finds actions that get there). `ami plan --far` and "
                                     "`ami eval plan --memory` search it for subgoals. Rebuild it after the memory "
                                     "grows or is pruned.")
    _memory_argument(g)
    g.add_argument("--run", required=True, help="the run that made the memory (its world model judges the edges)")
    add_preset_argument(g)
    g.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(handler=run_graph)


def _memory_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--memory", required=True, metavar="MEM", help="memory folder")


def run_add(args: argparse.Namespace) -> int:
    from openami.data import open_dataset
    from openami.memory.ingest import open_for, remember_dataset
    from openami.training import load_model

    model, _ = load_model(args.run, args.device)
    experience = open_dataset(args.data)
    with open_for(args.memory, args.run, model, experience.state.shape[1], args.index) as store:
        added, first = remember_dataset(store, model, experience, every=args.every, progress=not args.quiet)
        if store.index_kind == "hnsw":
            store.build_index(progress=not args.quiet)
        print(f"added {added} entries from {experience.num_episodes} episodes (stored as episodes {first}.."
              f"{first + experience.num_episodes - 1}); {args.memory} holds {len(store)}")
    return 0


def run_query(args: argparse.Namespace) -> int:
    import numpy as np

    from openami.memory import MemoryStore, MemoryStoreError

    with MemoryStore.open(args.memory) as store:
        if args.entry is not None:
            z = store.get([args.entry]).z
            dist, ids = store.query(z, args.k + 1)
            keep = ids[0] != args.entry
            dist, ids = dist[0][keep][: args.k], ids[0][keep][: args.k]
        else:
            if not args.run:
                raise MemoryStoreError("--image needs --run, the run that made the memory, to encode the image")
            dist, ids = store.query(_encode_image(store, args), args.k)
            dist, ids = dist[0], ids[0]
        found = store.get(ids)
        print(f"{'rank':>4}  {'id':>8}  {'distance':>9}  {'episode':>7}  {'step':>5}  state")
        for rank, (i, d) in enumerate(zip(ids.tolist(), dist.tolist(), strict=True)):
            state = np.array2string(found.state[rank], precision=3) if found.state is not None else "-"
            print(f"{rank + 1:>4}  {i:>8}  {d:>9.4f}  {found.episode[rank]:>7}  {found.step[rank]:>5}  {state}")
    return 0


def _encode_image(store, args: argparse.Namespace):
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from openami.evaluation.embed import encode_frames
    from openami.memory.ingest import check_same_model, model_fingerprint
    from openami.training import load_model

    check_same_model(store, model_fingerprint(args.run), args.run)
    model, _ = load_model(args.run, args.device)
    size = model.config.image_size
    try:
        image = Image.open(args.image).convert("RGB").resize((size, size), Image.BOX)
    except (OSError, UnidentifiedImageError) as err:
        raise FileNotFoundError(f"cannot read the image {args.image} ({err})") from None
    return encode_frames(model, np.asarray(image)[None])


def run_stats(args: argparse.Namespace) -> int:
    from openami.memory import MemoryStore

    with MemoryStore.open(args.memory) as store:
        stats = store.stats()
    if args.json:
        print(json.dumps(stats))
        return 0
    span = stats["time_span_s"]
    rows = {"entries": stats["entries"], "episodes": stats["episodes"], "embedding size": stats["dim"],
            "thumbnails": "x".join(map(str, stats["thumbnail_shape"])) if stats["thumbnail_shape"] else "none",
            "true state size": stats["state_dim"] or "none",
            "index": stats["index"] + (f" {stats['hnsw']}" if stats["hnsw"] else ""),
            "on disk": f"{stats['bytes_on_disk'] / 2**20:.1f} MiB", "created": stats["created"],
            "time span": f"{span / 3600:.2f} h" if span >= 3600 else f"{span:.0f} s"}
    rows.update({f"made by {k}": v for k, v in stats["info"].items()})
    width = max(map(len, rows))
    print(f"memory {Path(args.memory)}")
    for key, value in rows.items():
        print(f"  {key:<{width}}  {value}")
    return 0


def run_prune(args: argparse.Namespace) -> int:
    from openami.memory import MemoryStore, MemoryStoreError

    if args.min_distance is None and args.keep_every is None:
        raise MemoryStoreError("prune needs --min-distance R and/or --keep-every N")
    with MemoryStore.open(args.memory, "a") as store:
        before = len(store)
        removed = store.prune(min_distance=args.min_distance, keep_every=args.keep_every)
        print(f"removed {removed} of {before} entries; {len(store)} remain in {args.memory}")
    from openami.memory.graph import GRAPH_FILE

    graph = Path(args.memory) / GRAPH_FILE
    if removed and graph.exists():  # derived data that now names removed entries
        graph.unlink()
        print(f"removed the stale memory graph {graph}; rebuild it with `ami memory graph`")
    return 0


def run_graph(args: argparse.Namespace) -> int:
    from openami.evaluation.far import build_memory_graph
    from openami.memory import MemoryStore
    from openami.memory.graph import EXPERIENCED
    from openami.training import load_model

    model, run_config = load_model(args.run, args.device)
    with MemoryStore.open(args.memory) as store:
        graph = build_memory_graph(store, model, run_config, args.run, preset_from(args).graph,
                                   progress=not args.quiet)
    path = graph.save(args.memory)
    info = graph.info
    print(f"memory graph of {info['memory_entries']} entries: {graph.num_nodes} nodes, {len(graph.src)} edges "
          f"({int((graph.kind == EXPERIENCED).sum())} experienced, {info['candidates_kept']} of "
          f"{info['candidates_judged']} candidates judged reachable by the model); saved {path}")
    return 0
