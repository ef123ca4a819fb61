/**
 * Fashion-MNIST: Zalando's drop-in replacement for MNIST (same IDX layout and 28x28 greyscale, ten
 * clothing classes). We do not download it; Debian ships it as `dataset-fashion-mnist`, which
 * installs the four gzipped IDX files into /usr/share/datasets/fashion-mnist.
 */
import { UserError } from '@permafrost/telemetry';
import type { Dataset } from './dataset';
import { openIdxDataset } from './idx-dataset';

export const FASHION_MNIST_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

export function openFashionMnist(dir: string, split: 'train' | 'test', name = 'fashion-mnist'): Promise<Dataset> {
  return openIdxDataset(dir, split, {
    name,
    idPrefix: 'fashion-mnist',
    classNames: [...FASHION_MNIST_CLASSES],
    notFound: (detail) =>
      new UserError(
        `Fashion-MNIST not found (${detail}); install Debian's package with 'apt-get install dataset-fashion-mnist' (or pass --dataset idx:DIR)`,
        'data.dataset',
      ),
  });
}
