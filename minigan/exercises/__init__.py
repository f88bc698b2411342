"""Checks for the course's exercises: run a learner's function, say what is wrong.

Each ``check_*`` takes the learner's function, runs it on several random float64
cases (batch 1, odd sizes, non-zero biases, random upstream gradients, extreme
logits where stability matters), compares every output with minigan's own
implementation, and either prints one pass line or raises :class:`ExerciseError`
naming the output that is wrong, its relative error, and, where the wrong answer
looks like a known mistake (a missing transpose, a mean instead of a sum, the
wrong sign, ...), a hint. ``NotImplementedError`` raised by an unfinished
exercise propagates unchanged.

Used from the notebooks, right after each exercise::

    from minigan.exercises import check_linear_backward
    check_linear_backward(linear_backward)

The package: ``checker.py`` (the shared machinery) and one module per chapter,
``chNN_<name>.py``; this module exports every check. The table lists chapters 1-4; each
later chapter's module lists its own.

=====================================  ==========  =======================================
check                                  exercise    the learner writes
=====================================  ==========  =======================================
check_linear_backward                  1.1         linear_backward(dy, x, W) -> (dx, dW, db)
check_tanh_backward                    1.2         tanh_backward(dy, x) -> dx
check_sigmoid_backward                 1.3         sigmoid_backward(dy, x) -> dx
check_bce_with_logits_grad             1.4         bce_with_logits_grad(z, t) -> (loss, dz)
check_mlp_forward_backward             1.5         forward_backward(P, x, t) -> (loss, grads)
check_sgd_momentum_step                2.1         sgd_momentum_step(p, g, v, lr, momentum)
check_adam_step                        2.2         adam_step(p, g, m, v, t, lr, b1, b2, eps)
check_accuracy                         2.3         accuracy(logits, labels) -> float
check_adam_optimiser                   2.4         class MyAdam(params, lr, betas, eps)
check_discriminator_loss_and_grad      3.1         (real_logits, fake_logits) -> (loss, dr, df)
check_generator_loss_nonsaturating     3.2         generator_loss_nonsaturating(z) -> (loss, dz)
check_gan_train_step                   3.3         gan_train_step(G, D, opt_G, opt_D, real, z_d, z_g)
check_modes_covered                    3.4         modes_covered(samples, centers, std) -> int
check_conv2d_backward                  4.1         conv2d_backward(dy, x, W, stride, padding)
check_conv_transpose2d_forward         4.2         conv_transpose2d_forward(x, W, b, stride, padding)
check_batchnorm_backward               4.3         batchnorm_backward(dy, x, gamma, eps)
=====================================  ==========  =======================================
"""
from __future__ import annotations

from .checker import ExerciseError
from .ch01_backprop import (check_linear_backward, check_tanh_backward, check_sigmoid_backward,
    check_bce_with_logits_grad, check_mlp_forward_backward)
from .ch02_optimisers import (check_sgd_momentum_step, check_adam_step, check_accuracy,
    check_adam_optimiser)
from .ch03_first_gan import (check_discriminator_loss_and_grad,
    check_generator_loss_nonsaturating, check_gan_train_step, check_modes_covered)
from .ch04_convolutions import (check_conv2d_backward, check_conv_transpose2d_forward,
    check_batchnorm_backward)
from .ch05_dcgan import (check_transposed_conv_output_size, check_dcgan_generator,
    check_interpolate_latents)
from .ch06_conditional import (check_one_hot, check_label_maps,
    check_label_maps_forward_backward, check_conditional_accuracy_from_predictions)
from .ch07_wasserstein import (check_penalty_dg, check_tanh_jvp_backward,
    check_linear_jvp_backward, check_critic_step)
from .ch08_stability import (check_power_iteration, check_pack, check_reverse_kl_modes,
    check_spectral_norm_linear)
from .ch09_lstm import check_lstm_cell_backward, check_lstm_bptt_backward, check_reinforce_grad
from .ch10_sequences import check_rollout_rewards, check_policy_gradient, check_wasserstein_1d
from .ch11_pix2pix import (check_l1_loss, check_instance_norm_backward, check_skip_backward,
    check_receptive_field, check_pix2pix_g_loss)
from .ch12_text2image import (check_conv1d_backward, check_joint_embedding_loss,
    check_attention_softmax_backward, check_gan_cls_d_loss, check_word_attention_backward)
from .ch13_gpu import (check_bias_leaky_relu_thread, check_lstm_gates_thread,
    check_time_device, check_device_accuracy)
from .answers import ANSWERS, show_interface

__all__ = ["ExerciseError", "ANSWERS", "show_interface",
           "check_linear_backward",
           "check_tanh_backward",
           "check_sigmoid_backward",
           "check_bce_with_logits_grad",
           "check_mlp_forward_backward",
           "check_sgd_momentum_step",
           "check_adam_step",
           "check_accuracy",
           "check_adam_optimiser",
           "check_discriminator_loss_and_grad",
           "check_generator_loss_nonsaturating",
           "check_gan_train_step",
           "check_modes_covered",
           "check_conv2d_backward",
           "check_conv_transpose2d_forward",
           "check_batchnorm_backward",
           "check_transposed_conv_output_size",
           "check_dcgan_generator",
           "check_interpolate_latents",
           "check_one_hot",
           "check_label_maps",
           "check_label_maps_forward_backward",
           "check_conditional_accuracy_from_predictions",
           "check_penalty_dg",
           "check_tanh_jvp_backward",
           "check_linear_jvp_backward",
           "check_critic_step",
           "check_power_iteration",
           "check_pack",
           "check_reverse_kl_modes",
           "check_spectral_norm_linear",
           "check_lstm_cell_backward",
           "check_lstm_bptt_backward",
           "check_reinforce_grad",
           "check_rollout_rewards",
           "check_policy_gradient",
           "check_wasserstein_1d",
           "check_l1_loss",
           "check_instance_norm_backward",
           "check_skip_backward",
           "check_receptive_field",
           "check_pix2pix_g_loss",
           "check_conv1d_backward",
           "check_joint_embedding_loss",
           "check_attention_softmax_backward",
           "check_gan_cls_d_loss",
           "check_word_attention_backward",
           "check_bias_leaky_relu_thread",
           "check_lstm_gates_thread",
           "check_time_device",
           "check_device_accuracy",
           ]
