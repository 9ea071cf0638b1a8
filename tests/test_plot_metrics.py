#!/usr/bin/python3
"""tools/plot_metrics.py renders non-empty 800x500 PNGs from generated CSV and JSONL metrics files."""
import csv
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "tools", "plot_metrics.py")
COLUMNS = "epoch,train_loss,last_batch_loss,test_loss,test_accuracy,epoch_seconds,samples_per_second,lr"


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


class PlotMetrics(unittest.TestCase):
    def test_renders_two_runs_overlaid(self):
        with tempfile.TemporaryDirectory() as d:
            csv_path = os.path.join(d, "softmax.csv")
            with open(csv_path, "w") as f:
                f.write(COLUMNS + "\n")  # the header is the first line; the settings live in FILE.json
                for e in range(1, 6):
                    f.write(f"{e},{1.0 / e:.4f},0.5,0.6,{80 + e},1.0,50000,0.001\n")
            with open(csv_path + ".json", "w") as f:
                json.dump({"loss": "softmax"}, f)
            # pandas.read_csv and csv.DictReader read the file as it is: its first line is the header.
            with open(csv_path) as f:
                self.assertEqual(list(csv.DictReader(f))[0]["epoch"], "1")
            jsonl_path = os.path.join(d, "sigmoid.jsonl")
            with open(jsonl_path, "w") as f:
                f.write(json.dumps({"settings": {"loss": "sigmoid-softmax"}}) + "\n")
                for e in range(1, 6):
                    f.write(json.dumps({"epoch": e, "train_loss": 2.0 / e, "test_accuracy": 60 + e}) + "\n")
            out = os.path.join(d, "plots")
            subprocess.run([sys.executable, SCRIPT, csv_path, jsonl_path, "--out", out], check=True)
            for name in ("loss.png", "accuracy.png"):
                path = os.path.join(out, name)
                self.assertGreater(os.path.getsize(path), 5000)
                self.assertEqual(png_size(path), (800, 500))

    def test_bad_file_is_a_clear_error(self):
        with tempfile.TemporaryDirectory() as d:
            bad = os.path.join(d, "empty.csv")
            open(bad, "w").close()
            r = subprocess.run([sys.executable, SCRIPT, bad, "--out", d], capture_output=True, text=True)
            self.assertEqual(r.returncode, 3)
            self.assertIn("empty.csv", r.stderr)


if __name__ == "__main__":
    unittest.main()
