"""Which of minigan's functions answer each exercise: printing one of them before its exercise
puts the answer on the page.

Plain data with no imports, so that ``scripts/make_student_notebooks.py`` can read it without
NumPy: the student version of a notebook shows only the interface (signature and docstring) of
any of these that a cell prints with ``inspect.getsource`` before the exercise, and prints the
whole source right after the exercise's check cell instead. ``tests/test_student_notebooks.py``
checks that every exercise of the notebooks is listed here, that every name resolves to a
function of minigan, and that no student notebook shows one of them before its exercise.

Each entry: ``"module:qualname"``; a notebook's ``inspect.getsource(EXPR)`` shows it when EXPR
ends with the qualname (``Linear.backward``, ``minigan.nn.Linear.backward``; a numba kernel's
``.py_func`` is ignored). An empty tuple: no library function answers the exercise outright.
"""

ANSWERS = {
    "1.1": ("minigan.nn.layers:Linear.backward",),
    "1.2": ("minigan.nn.layers:Tanh.backward",),
    "1.3": ("minigan.nn.layers:Sigmoid.backward",),
    "1.4": ("minigan.nn.losses:bce_with_logits",),
    "1.5": ("minigan.nn.layers:Sequential.backward",),
    "2.1": ("minigan.optim:SGD._update",),
    "2.2": ("minigan.optim:Adam._update",),
    "2.3": ("minigan.evaluation.features:Classifier.accuracy",),
    "2.4": ("minigan.optim:Optimizer.step",),
    "3.1": ("minigan.gans.gan:GAN.d_loss_and_backward", "minigan.gans.base:bce_d_loss"),
    "3.2": ("minigan.gans.gan:GAN.g_loss_and_backward", "minigan.gans.base:bce_g_loss"),
    "3.3": ("minigan.gans.gan:GAN.train_step", "minigan.gans.gan:GAN.d_loss_and_backward",
            "minigan.gans.gan:GAN.g_loss_and_backward"),
    "3.4": ("minigan.evaluation.metrics:assign_to_modes", "minigan.evaluation.metrics:mode_metrics"),
    "4.1": ("minigan.nn.conv:Conv2d.backward",),
    "4.2": ("minigan.nn.conv:ConvTranspose2d.forward",),
    "4.3": ("minigan.nn.norm:BatchNorm2d.backward",),
    "5.1": ("minigan.kernels.im2col:conv_output_size",),
    "5.2": ("minigan.gans.dcgan:dcgan_generator", "minigan.gans.wgan:dcgan_generator"),
    "5.3": (),
    "6.1": ("minigan.data.scenes:one_hot",),
    "6.2": ("minigan.gans.cgan:CDCGAN.d_input",),
    "6.3": ("minigan.gans.cgan:CDCGAN.d_input", "minigan.gans.cgan:CDCGAN.d_input_backward",
            "minigan.nn.embedding:Embedding.backward"),
    "6.4": ("minigan.evaluation.metrics:conditional_accuracy",),
    "7.1": ("minigan.nn.penalty:gradient_penalty", "minigan.gans.wgan:WGANGP.penalty_and_backward"),
    "7.2": ("minigan.nn.layers:Tanh.backward_jvp",),
    "7.3": ("minigan.nn.layers:Linear.backward_jvp",),
    "7.4": ("minigan.nn.penalty:gradient_penalty", "minigan.gans.wgan:WGANGP.penalty_and_backward",
            "minigan.nn.jvp:input_gradient_backward", "minigan.nn.layers:Sequential.backward_jvp"),
    "8.1": ("minigan.nn.spectral:power_iteration", "minigan.nn:power_iteration"),
    "8.2": ("minigan.gans.gan:GAN._packed",),
    "8.3": ("minigan.evaluation.metrics:mode_metrics",),
    "8.4": ("minigan.nn.spectral:SpectralNorm.forward", "minigan.nn.spectral:SpectralNorm.backward",
            "minigan.nn.spectral:SpectralNorm._weight_backward"),
    "9.1": ("minigan.kernels.lstm:lstm_gates_backward_reference",
            "minigan.nn.recurrent:LSTMCell.backward", "minigan.kernels._lstm_numba:_backward_row"),
    "9.2": ("minigan.nn.recurrent:LSTM._layer_backward",),
    "9.3": ("minigan.gans.seqgan:SeqGAN.pg_loss_and_backward",),
    "10.1": ("minigan.gans.seqgan:SeqGAN.rewards",),
    "10.2": ("minigan.gans.seqgan:SeqGAN.pg_loss_and_backward",
             "minigan.lm:LanguageModel.loss_and_backward"),
    "10.3": ("minigan.data.sines:wasserstein_1d",),
    "11.1": ("minigan.nn.losses:l1_loss",),
    "11.2": ("minigan.nn.receptive:concat_channels_backward",),
    "11.3": ("minigan.nn.norm:InstanceNorm2d.backward",),
    "11.4": ("minigan.nn.receptive:receptive_field",),
    "11.5": ("minigan.gans.pix2pix:Pix2Pix.g_loss_and_backward",),
    "12.1": ("minigan.nn.temporal:Conv1d.backward", "minigan.nn.temporal:Conv1d._backward_params"),
    "12.2": ("minigan.nn.matching:joint_embedding_loss",
             "minigan.nn.matching:cosine_matrix_backward",
             "minigan.nn.matching:l2_normalize_backward"),
    "12.3": ("minigan.nn.temporal:WordAttention.backward",),
    "12.4": ("minigan.gans.text2image:Text2Image.train_step",),
    "12.5": ("minigan.nn.temporal:WordAttention.backward",),
    "13.1": ("minigan.kernels.activation:leaky_relu",
             "minigan.kernels.activation:leaky_relu_reference"),
    "13.2": ("minigan.kernels.lstm:lstm_gates_forward",
             "minigan.kernels.lstm:lstm_gates_forward_reference"),
    "13.3": (),
    "13.4": (),
}


def qualname(entry: str) -> str:
    """``"minigan.nn.layers:Linear.backward"`` -> ``"Linear.backward"``."""
    return entry.split(":", 1)[1]


def shows(expr: str, entry: str) -> bool:
    """Whether ``inspect.getsource(expr)`` prints the function ``entry`` names."""
    expr = expr.strip()
    if expr.endswith(".py_func"):
        expr = expr[:-len(".py_func")]
    q = qualname(entry)
    return expr == q or expr.endswith("." + q)


def show_interface(*functions, after: str = "") -> None:
    """Print each function's signature and docstring, not its body: what the exercise
    versions of the notebooks print where the solution notebook prints a function that
    answers an exercise (``after``: the exercise after which its body is shown)."""
    import inspect
    for fn in functions:
        fn = getattr(fn, "py_func", fn)                 # a numba kernel: its Python function
        name = getattr(fn, "__qualname__", getattr(fn, "__name__", repr(fn)))
        try:
            sig = str(inspect.signature(fn))
        except (TypeError, ValueError):
            sig = "(...)"
        doc = inspect.getdoc(fn) or ""
        print(f"def {name}{sig}:")
        if doc:
            print('    """' + doc.replace("\n", "\n    ") + '"""')
        where = f" after Exercise {after}" if after else " after the exercise that asks for it"
        print(f"    ...   # minigan's body is shown{where}: write yours first\n")
