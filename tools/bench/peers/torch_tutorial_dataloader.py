#!/usr/bin/python3
"""Benchmark peer, row 1: the PyTorch tutorial's training loop as written — a torchvision-style Dataset
that turns each sample into a PIL image and applies ToTensor(), DataLoader(batch 32, shuffle=True),
nn.Linear(784, C), CrossEntropyLoss on the logits (the correct softmax model, not the tutorial's extra
sigmoid), SGD lr 0.001, per-epoch evaluation through a test DataLoader. Not a test; see tools/bench/bench.sh.

    /usr/bin/python3 tools/bench/peers/torch_tutorial_dataloader.py --epochs 1 [--limit N] [--device cuda]
"""

import common


def make_dataset(torch, images, labels):
    """A Dataset that does per sample what torchvision.datasets.MNIST(transform=ToTensor()) does."""
    import torch.utils.data
    from PIL import Image
    from torchvision import transforms

    class IdxImageDataset(torch.utils.data.Dataset):
        def __init__(self):
            self.data = torch.from_numpy(images.copy())  # (N, H, W) uint8, as torchvision keeps it
            self.targets = torch.from_numpy(labels.astype("int64"))
            self.transform = transforms.ToTensor()

        def __len__(self):
            return len(self.data)

        def __getitem__(self, index):
            img, target = self.data[index], int(self.targets[index])
            img = Image.fromarray(img.numpy())  # a 2-D uint8 array becomes mode "L"
            return self.transform(img), target

    return IdxImageDataset()


def main():
    p = common.argument_parser(__doc__.splitlines()[0])
    args = p.parse_args()
    torch, device = common.setup_torch(args)
    data = common.load_data(args.data, args.limit)

    train_dataset = make_dataset(torch, data["train_images"], data["train_labels"])
    test_dataset = make_dataset(torch, data["test_images"], data["test_labels"])
    train_loader = torch.utils.data.DataLoader(dataset=train_dataset, batch_size=args.batch_size, shuffle=True)
    test_loader = torch.utils.data.DataLoader(dataset=test_dataset, batch_size=args.batch_size, shuffle=False)
    pixels = data["train_images"].shape[1] * data["train_images"].shape[2]

    model = torch.nn.Linear(pixels, data["classes"]).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    criterion = torch.nn.CrossEntropyLoss()

    def train_epoch(_epoch):
        loss_sum = torch.zeros((), device=device)
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            outputs = model(images.view(-1, pixels))
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * labels.shape[0]
        return loss_sum.item()

    def evaluate():
        correct = torch.zeros((), dtype=torch.int64, device=device)
        with torch.no_grad():
            for images, labels in test_loader:
                images, labels = images.to(device), labels.to(device)
                outputs = model(images.view(-1, pixels))
                _, predicted = torch.max(outputs, 1)
                correct += (predicted == labels).sum()
        return 100.0 * correct.item() / len(test_dataset)

    summary = {"peer": "torch_tutorial_dataloader"}
    summary.update(common.torch_description(torch, device))
    common.run_epochs(args, data, train_epoch, evaluate, common.torch_sync(torch, device), summary)


if __name__ == "__main__":
    common.run_main(main)
