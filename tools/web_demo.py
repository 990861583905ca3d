"""A web page to segment sentences on images with a trained model (Gradio).

    python tools/web_demo.py CONFIG CHECKPOINT [--port 7860] [--host 127.0.0.1] \
        [--examples demo/examples] [--crf] [--device cpu] [--threads N]

Then open http://HOST:PORT in a browser: upload an image (or pick an example), type one
sentence per line and press Segment. The page logic is sgseg.apis.WebDemo.
"""
import argparse
import os
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')  # nothing leaves the machine

from sgseg.apis import RefSegInferencer, WebDemo, load_examples  # noqa: E402
from sgseg.utils import set_num_threads  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description='Referring segmentation in the browser')
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint', help='checkpoint trained with the config')
    parser.add_argument('--host', default='127.0.0.1',
                        help='address to serve on (default: %(default)s; 0.0.0.0 for every '
                        'interface)')
    parser.add_argument('--port', type=int, default=7860, help='port (default: %(default)s)')
    parser.add_argument('--examples', default=osp.join(ROOT, 'demo', 'examples'),
                        help='folder of example images, each with a .txt of sentences '
                        '(default: the bundled synthetic examples; "" for none)')
    parser.add_argument('--crf', action='store_true', help='DenseCRF on by default')
    parser.add_argument('--device', default='cpu', help='torch device (default: %(default)s)')
    parser.add_argument('--threads', type=int, help='torch CPU threads (or SGSEG_THREADS)')
    return parser.parse_args()


def main():
    args = parse_args()
    set_num_threads(args.threads)
    inferencer = RefSegInferencer(args.config, args.checkpoint, device=args.device,
                                  crf=args.crf)
    examples = load_examples(args.examples)
    demo = WebDemo(inferencer, examples)
    app = demo.build_app(title=f'sgseg: {osp.splitext(osp.basename(args.config))[0]}')
    print(f'serving on http://{args.host}:{args.port} (Ctrl-C to stop)')
    app.launch(server_name=args.host, server_port=args.port, show_error=True,
               allowed_paths=[osp.abspath(args.examples)] if args.examples else None,
               max_file_size='50mb')


if __name__ == '__main__':
    main()
