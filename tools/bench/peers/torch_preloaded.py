#!/usr/bin/python3
"""Benchmark peer, row 2: the same model and loop as the tutorial, written the way a user who cares
about speed would: the whole training and test sets converted once to float tensors (÷255) on the
device, a torch.randperm per epoch, batches taken with index_select, no DataLoader. nn.Linear(784, C),
CrossEntropyLoss on the logits, torch.optim.SGD. Not a test; see tools/bench/bench.sh.

    /usr/bin/python3 tools/bench/peers/torch_preloaded.py --epochs 3 --batch-size 32 [--device cuda]
"""

import common

EVAL_CHUNK = 8192  # test rows per forward pass in evaluate()


def main():
    p = common.argument_parser(__doc__.splitlines()[0])
    args = p.parse_args()
    torch, device = common.setup_torch(args)
    data = common.load_data(args.data, args.limit)

    def to_device(images, labels):
        x = torch.from_numpy(images.reshape(len(images), -1).astype("float32") / 255.0).to(device)
        return x, torch.from_numpy(labels.astype("int64")).to(device)

    x_train, y_train = to_device(data["train_images"], data["train_labels"])  # (N, D) float32, (N,) int64
    x_test, y_test = to_device(data["test_images"], data["test_labels"])
    rows, pixels = x_train.shape

    model = torch.nn.Linear(pixels, data["classes"]).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    criterion = torch.nn.CrossEntropyLoss()

    def train_epoch(_epoch):
        loss_sum = torch.zeros((), device=device)
        order = torch.randperm(rows, device=device)
        for start in range(0, rows, args.batch_size):
            idx = order[start:start + args.batch_size]
            images, labels = x_train.index_select(0, idx), y_train.index_select(0, idx)
            optimizer.zero_grad()
            loss = criterion(model(images), labels)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * idx.shape[0]
        return loss_sum.item()

    def evaluate():
        correct = torch.zeros((), dtype=torch.int64, device=device)
        with torch.no_grad():
            for start in range(0, len(y_test), EVAL_CHUNK):
                logits = model(x_test[start:start + EVAL_CHUNK])
                correct += (logits.argmax(1) == y_test[start:start + EVAL_CHUNK]).sum()
        return 100.0 * correct.item() / len(y_test)

    summary = {"peer": "torch_preloaded"}
    summary.update(common.torch_description(torch, device))
    common.run_epochs(args, data, train_epoch, evaluate, common.torch_sync(torch, device), summary)


if __name__ == "__main__":
    common.run_main(main)
