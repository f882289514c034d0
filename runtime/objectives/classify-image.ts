// Image classification (`objective classify` on `input image`): labelled images (MNIST by
// default, runtime/image/data.ts), training batches drawn with replacement, validation on
// the first --eval-batches batches of the held-out test split, and at the end of a run the
// accuracy on the whole test split.
import { TfmError } from '../../common/errors.ts';
import { imageBatch, imageDigest, loadImages, testBatch } from '../image/data.ts';
import { argmax, copyWeights, Tally, type Metrics, type ObjectiveData } from './objective.ts';

export interface ImageClassifyOptions {
  data: string;
  batch: number;
  evalBatches: number;
  /** The spec's `input image` (channels, height, width) and its number of classes. */
  image: { channels: number; height: number; width: number };
  classes: number;
}

export function imageClassifyData(o: ImageClassifyOptions): ObjectiveData {
  const set = loadImages(o.data, o.classes);
  const want = o.image;
  if (set.channels !== want.channels || set.height !== want.height || set.width !== want.width) {
    throw new TfmError('TFM5023', `\`${o.data}\` holds ${set.channels}×${set.height}×${set.width} images; the spec's \`input image\` is ${want.channels}×${want.height}×${want.width}`);
  }
  const { batch } = o;
  return {
    settings: { data: imageDigest(set) },
    dims: { batch },
    async open(ctx) {
      const ex = ctx.train;
      const evalEx = await ctx.executor({ batch });
      const images = ex.input('image') as Float32Array;
      const labels = ex.input('labels') as Int32Array;
      const evalImages = evalEx.input('image') as Float32Array;
      const evalLabels = evalEx.input('labels') as Int32Array;
      /** Loss and accuracy over the first `count` test images (whole batches; the last may wrap). */
      const measure = async (count: number): Promise<Metrics> => {
        await copyWeights(ex, evalEx);
        let loss = 0;
        const tally = new Tally(o.classes);
        for (let start = 0; start < count; start += batch) {
          const fresh = testBatch(set, start, evalImages, evalLabels);
          const n = Math.min(fresh, count - start);
          loss += (await evalEx.forward()) * batch;
          const logits = (await evalEx.read('logits')) as Float32Array;
          for (let b = 0; b < n; b++) tally.add(start + b, evalLabels[b], argmax(logits, b * o.classes, o.classes));
        }
        // The loss is the batch mean of whole batches (a wrapped last batch counts its repeats).
        return { loss: loss / (Math.ceil(count / batch) * batch), accuracy: tally.correct / tally.count, count: tally.count, confusion: tally.confusion, mistakes: tally.mistakes };
      };
      return {
        title: `${set.name} (${set.train.count} training, ${set.test.count} test images)`,
        per: 'image',
        perStep: batch,
        naming: 'hf-vit',
        ...(set.classNames ? { classNames: set.classNames } : {}),
        files: {},
        folderFiles: {},
        fill: (rng) => imageBatch(set, rng, images, labels),
        evaluate: () => measure(Math.min(set.test.count, o.evalBatches * batch)),
        evaluateAll: () => measure(set.test.count),
        example: (index) => {
          const size = set.channels * set.height * set.width;
          // The first channel: the images drawn are grey.
          return { pixels: { data: set.test.pixels.subarray(index * size, index * size + set.height * set.width), width: set.width, height: set.height } };
        },
        close: () => evalEx.close(),
      };
    },
  };
}
