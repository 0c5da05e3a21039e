from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="dreamenv",
    version="0.1.0",
    description="Gymnasium environments that step inside a learned diffusion dynamics model",
    long_description=Path(__file__).with_name("README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["dreamenv", "dreamenv.*"]),
    package_data={"dreamenv": ["behaviour/weights/*.safetensors", "behaviour/weights/*.json",
                               "models/pretrained/*/*.json",
                               "models/pretrained/*/*.safetensors",
                               "evaluation/family/*/*.json",
                               "evaluation/family/*/*.safetensors"]},
    install_requires=[
        # ray[rllib] 2.54-2.60 pins gymnasium==1.2.2 exactly; stay inside 1.2.x so both install.
        "gymnasium[mujoco]>=1.2.2,<1.3",
        "mujoco>=3.1",
        "numpy>=1.24",
        # Any torch >= 2.3 works; on CPU machines install the CPU wheel first (see README), or
        # pip resolves this to a multi-GB CUDA build.
        "torch>=2.3",
        "h5py>=3.8",
        "safetensors>=0.4",
        "tqdm>=4.60",
        "matplotlib>=3.7",
    ],
    extras_require={
        "rllib": ["ray[rllib]>=2.54,<2.61"],
        "multiagent": ["pettingzoo>=1.24", "gymnasium-robotics>=1.3"],
        "minari": ["minari>=0.5,<0.6"],
        "video": ["imageio-ffmpeg>=0.4"],  # .mp4 videos (.gif needs nothing extra)
        "test": ["pytest>=7", "minari>=0.5,<0.6", "imageio-ffmpeg>=0.4",
                 "ray[rllib]>=2.54,<2.61", "pettingzoo>=1.24", "gymnasium-robotics>=1.3"],
    },
    entry_points={"console_scripts": ["dreamenv=dreamenv.cli:main"]},
)
