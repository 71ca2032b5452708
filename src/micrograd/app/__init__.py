"""The `micrograd` command-line application, built on the library.

- ``cli`` -- the argument parser and the commands (``micrograd demo/train/predict/plot/explain/graph/tour``);
- ``training`` -- the training loop behind ``demo`` and ``train``, with resumable runs;
- ``checkpoint`` -- JSON checkpoint files: save, load and check them;
- ``data`` -- toy datasets (moons, circles, blobs, spiral, yinyang) and CSV files;
- ``plots`` -- matplotlib pictures of a run;
- ``expr`` -- the small expression language of ``micrograd explain`` and ``micrograd graph``.

The library (``micrograd.engine``, ``micrograd.nn`` and the rest of the top-level modules) never
imports from here.
"""
