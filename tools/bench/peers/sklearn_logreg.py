#!/usr/bin/python3
"""Benchmark peer, row 3: scikit-learn's LogisticRegression(solver='lbfgs', multinomial, C=1.0) on
pixels ÷ 255 — a full-batch second-order-ish solver, so it has no epochs: the fit is timed as a whole.
Not a test; see tools/bench/bench.sh.

    /usr/bin/python3 tools/bench/peers/sklearn_logreg.py --max-iter 100
    /usr/bin/python3 tools/bench/peers/sklearn_logreg.py --target-accuracy 0 --chunk-iters 10

With --target-accuracy the model is fitted in chunks of --chunk-iters L-BFGS iterations
(warm_start=True: each chunk starts from the previous coefficients, though L-BFGS's curvature memory
restarts), evaluated on the test set after each, until the target or --max-iter; the reported time is
the sum of fit and evaluation times up to the first chunk at or above the target.
"""
import sys
import time
import warnings

import numpy as np

import common


def make_model(max_iter, warm_start):
    """LogisticRegression configured as multinomial, without the argument where sklearn deprecates it
    (1.5+; multinomial is then the default for lbfgs)."""
    import sklearn
    from sklearn.linear_model import LogisticRegression
    kwargs = {"solver": "lbfgs", "max_iter": max_iter, "warm_start": warm_start}
    major, minor = (int(v) for v in sklearn.__version__.split(".")[:2])
    if (major, minor) < (1, 5):
        kwargs["multi_class"] = "multinomial"
    return LogisticRegression(**kwargs)


def main():
    p = common.argument_parser(__doc__.splitlines()[0], sgd=False)
    p.add_argument("--max-iter", type=int, default=100, help="L-BFGS iterations (the fit's max_iter)")
    p.add_argument("--chunk-iters", type=int, default=10, help="with --target-accuracy: iterations per chunk")
    args = p.parse_args()
    if args.device != "cpu":
        print("error: scikit-learn runs on the CPU only", file=sys.stderr)
        sys.exit(2)
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_info, threadpool_limits

    data = common.load_data(args.data, args.limit)
    x_train = data["train_images"].reshape(len(data["train_images"]), -1).astype(np.float64) / 255.0
    x_test = data["test_images"].reshape(len(data["test_images"]), -1).astype(np.float64) / 255.0
    y_train, y_test = data["train_labels"], data["test_labels"]
    if args.target_accuracy == 0:
        args.target_accuracy = common.default_target(data["name"])
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)

    limits = threadpool_limits(args.threads) if args.threads > 0 else None
    blas_threads = max((pool.get("num_threads", 0) for pool in threadpool_info()), default=0)

    if args.target_accuracy is None:
        chunks, model = [args.max_iter], make_model(args.max_iter, warm_start=False)
    else:
        model = make_model(args.chunk_iters, warm_start=True)
        chunks = [args.chunk_iters] * max(1, args.max_iter // args.chunk_iters)
    elapsed, iterations, reached_at, reached_iter, acc = 0.0, 0, None, None, None
    fit_seconds = eval_seconds = 0.0
    for chunk, _ in enumerate(chunks, 1):
        t0 = time.perf_counter()
        model.fit(x_train, y_train)
        t1 = time.perf_counter()
        acc = 100.0 * float(np.mean(model.predict(x_test) == y_test))
        t2 = time.perf_counter()
        fit_seconds += t1 - t0
        eval_seconds += t2 - t1
        elapsed += t2 - t0
        iterations += int(np.max(model.n_iter_))
        common.emit({"chunk": chunk, "fit_seconds": t1 - t0, "eval_seconds": t2 - t1, "iterations": iterations,
                     "test_accuracy": acc})
        if args.target_accuracy is not None and acc >= args.target_accuracy:
            reached_at, reached_iter = elapsed, iterations
            break
    if limits is not None:
        limits.restore_original_limits()
    common.emit({"summary": True, "peer": "sklearn_logreg", "sklearn": sklearn.__version__,
                 "threads": blas_threads, "data": data["name"], "data_dir": data["dir"],
                 "train_rows": len(y_train), "full_train_rows": data["full_train_rows"], "device": "cpu",
                 "max_iter": args.max_iter, "iterations": iterations, "fit_seconds": fit_seconds,
                 "eval_seconds": eval_seconds, "wall_seconds": elapsed, "final_test_accuracy": acc,
                 "samples_per_second": len(y_train) * iterations / fit_seconds,
                 "target_accuracy": args.target_accuracy, "time_to_target_seconds": reached_at,
                 "iterations_to_target": reached_iter})


if __name__ == "__main__":
    common.run_main(main)
