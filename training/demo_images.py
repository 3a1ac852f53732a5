"""Writes web/assets/fmnist-test.u8: the first image of each class (0..9) of the Fashion-MNIST test set, 10 x 28 x 28
bytes, row-major, class order; the demo's forward-process view starts from them.

    python3 training/demo_images.py   # needs Debian's dataset-fashion-mnist
"""
import gzip
import os

DATA = "/usr/share/datasets/fashion-mnist"
ROOT = os.path.join(os.path.dirname(__file__), "..")


def main():
    with gzip.open(os.path.join(DATA, "t10k-images-idx3-ubyte.gz")) as f:
        images = f.read()[16:]
    with gzip.open(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = f.read()[8:]
    out = bytearray()
    for c in range(10):
        i = labels.index(c)
        out += images[i * 784:(i + 1) * 784]
    path = os.path.join(ROOT, "web", "assets", "fmnist-test.u8")
    with open(path, "wb") as f:
        f.write(out)
    print(f"{path}: {len(out)} bytes (test-set indices {[labels.index(c) for c in range(10)]})")


if __name__ == "__main__":
    main()
