"""tfrd: rate-prior distortion curves of deep generative models (Huang et al., 2020)."""

import setuptools

# Pinned to the versions the test suite runs against; they install together on
# Python 3.11. TFP 0.25 still needs Keras 2 (tf-keras); user models are Keras 3.
INSTALL_REQUIRES = [
    'tensorflow==2.21.0',
    'tensorflow-probability==0.25.0',
    'tf-keras==2.21.0',
    'keras==3.15.1',
    'tensorflow-datasets==4.9.10',
    # TFDS 4.9.10 needs it to prepare MNIST but does not declare it.
    'importlib-resources==7.1.0',
    'numpy==2.4.6',
    'matplotlib==3.11.2',
    'absl-py==2.5.1',
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
        # On Linux the tensorflow wheel runs on the CPU unless the CUDA
        # libraries are installed; this extra brings them.
        'cuda': ['tensorflow[and-cuda]==2.21.0'],
        'dev': ['pytest==9.2.0'],
    },
    entry_points={
        'console_scripts': [
            'tfrd-rd-curve=apps.rd_curve:console_main',
            'tfrd-linear-vae=apps.linear_vae:console_main',
        ],
    },
)
