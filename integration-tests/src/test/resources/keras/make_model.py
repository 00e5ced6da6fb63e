#!/usr/bin/env python3
"""Writes digits_mlp.h5: a small Keras 2 Sequential model (64 -> Dense 32 relu -> Dense 10 softmax) in the HDF5
layout that Keras 2.2.4's model.save() writes, without Keras (PyPI is not reachable where this project is built;
Debian's python3-h5py and python3-numpy are). Run: /usr/bin/python3 make_model.py (writes next to this script).

The layout, as keras/engine/saving.py (save_model / save_weights_to_hdf5_group) writes it with h5py, every string
stored as fixed-length bytes (numpy 'S'), which is what DL4J's Hdf5Archive reads:

  /                       attrs: keras_version = b'2.2.4', backend = b'tensorflow',
                                 model_config = JSON of model.get_config() wrapped in {"class_name", "config"},
                                 training_config = JSON of the optimizer config and the loss
  /model_weights          attrs: layer_names = [b'dense_1', b'dense_2'], backend, keras_version
  /model_weights/dense_1  attrs: weight_names = [b'dense_1/kernel:0', b'dense_1/bias:0']
  /model_weights/dense_1/dense_1/kernel:0   float32 [64, 32]   (a Dense kernel is [inputs, units])
  /model_weights/dense_1/dense_1/bias:0     float32 [32]
  /model_weights/dense_2/...                 the same for the output layer: kernel [32, 10], bias [10]

The weights follow closed formulas (below, and repeated in KerasImportIT), so that the test checks DL4J's import
against numbers it computes itself; each value is computed in float64 and rounded once to float32.
"""
import json
import os

import h5py
import numpy as np

INPUTS, HIDDEN, CLASSES = 64, 32, 10


def kernel1(i, j):
    return 0.25 * np.sin(0.37 * i + 1.13 * j + 0.5)


def bias1(j):
    return 0.01 * (j - 16)


def kernel2(i, j):
    return 0.3 * np.cos(0.71 * i - 0.29 * j)


def bias2(j):
    return 0.02 * j


def dense_config(name, units, activation, input_dim=None):
    config = {
        "name": name, "trainable": True, "dtype": "float32", "units": units, "activation": activation,
        "use_bias": True,
        "kernel_initializer": {"class_name": "VarianceScaling",
                               "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
        "kernel_constraint": None, "bias_constraint": None,
    }
    if input_dim is not None:
        config["batch_input_shape"] = [None, input_dim]
    return {"class_name": "Dense", "config": config}


def main():
    i1, j1 = np.meshgrid(np.arange(INPUTS), np.arange(HIDDEN), indexing="ij")
    i2, j2 = np.meshgrid(np.arange(HIDDEN), np.arange(CLASSES), indexing="ij")
    weights = {
        "dense_1": [("kernel:0", kernel1(i1, j1)), ("bias:0", bias1(np.arange(HIDDEN)))],
        "dense_2": [("kernel:0", kernel2(i2, j2)), ("bias:0", bias2(np.arange(CLASSES)))],
    }
    model_config = {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": [
        dense_config("dense_1", HIDDEN, "relu", INPUTS),
        dense_config("dense_2", CLASSES, "softmax"),
    ]}}
    training_config = {
        "optimizer_config": {"class_name": "Adam", "config": {"lr": 0.01, "beta_1": 0.9, "beta_2": 0.999,
                                                              "decay": 0.0, "epsilon": 1e-07, "amsgrad": False}},
        "loss": "categorical_crossentropy", "metrics": ["accuracy"], "sample_weight_mode": None,
        "loss_weights": None,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits_mlp.h5")
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(model_config).encode("utf8")
        f.attrs["training_config"] = json.dumps(training_config).encode("utf8")
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = np.array([name.encode("utf8") for name in weights])
        group.attrs["backend"] = b"tensorflow"
        group.attrs["keras_version"] = b"2.2.4"
        for layer, values in weights.items():
            g = group.create_group(layer)
            g.attrs["weight_names"] = np.array([(layer + "/" + name).encode("utf8") for name, _ in values])
            for name, value in values:
                data = g.create_dataset(layer + "/" + name, value.shape, dtype="float32")
                data[...] = value.astype(np.float32)
    print("wrote", path)


if __name__ == "__main__":
    main()
