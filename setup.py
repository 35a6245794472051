"""tfrd: rate-prior distortion curves of deep generative models (Huang et al., 2020)."""

import setuptools

# The releases tfrd works with, so that it installs into a user's own
# TensorFlow environment and keeps its TensorFlow; the exact versions the
# tests run against are pinned in constraints.txt, which the README's commands
# and CI install with.
#
# TFP 0.25 imports tf-keras (Keras 2) beside TensorFlow's Keras 3, and each
# tf-keras release requires its own TensorFlow minor version. Required here,
# pip would take the newest tf-keras and replace an environment's TensorFlow
# 2.20 with 2.21 to fit it (seen with pip 23 and 26). So, as TFP itself does,
# it comes with the `tf` extra (`pip install "tfrd[tf]"`), and without it
# tfrd's first TFP import names the tf-keras that fits the TensorFlow present
# (`tfrd.probability`). User models are Keras 3.
TENSORFLOW = 'tensorflow>=2.20,<2.22'
TF_KERAS = 'tf-keras>=2.20,<2.22'
INSTALL_REQUIRES = [
    TENSORFLOW,
    'tensorflow-probability>=0.25,<0.26',
    'keras>=3.10,<4',
    'tensorflow-datasets>=4.9.9,<5',
    # TFDS 4.9 needs it to prepare MNIST but does not declare it.
    'importlib-resources>=6',
    'numpy>=1.26,<3',
    'matplotlib>=3.8,<4',
    'absl-py>=2.1,<3',
]

setuptools.setup(
    name='tfrd',
    version='0.1.0',
    description=('Rate-prior distortion curves of deep generative models with '
                 'annealed importance sampling (TensorFlow / TFP).'),
    long_description=open('README.md').read() if __import__('os').path.exists(
        'README.md') else '',
    long_description_content_type='text/markdown',
    python_requires='>=3.11,<3.12',
    packages=setuptools.find_packages(
        include=['tfrd*', 'adapters*', 'pipelines*', 'apps*', 'zoo*',
                 'benchmarks*']),
    package_data={'zoo': ['pretrained/*.keras', 'pretrained/*.json',
                          'pretrained/*.png', 'pretrained/*.md']},
    install_requires=INSTALL_REQUIRES,
    extras_require={
        'tf': [TF_KERAS],
        # On Linux the tensorflow wheel runs on the CPU unless the CUDA
        # libraries are installed; this extra brings them.
        'cuda': ['tensorflow[and-cuda]>=2.20,<2.22', TF_KERAS],
        'dev': ['pytest>=8,<10'],
    },
    entry_points={
        'console_scripts': [
            'tfrd-rd-curve=apps.rd_curve:console_main',
            'tfrd-linear-vae=apps.linear_vae:console_main',
        ],
    },
)
