"""The lecture's models: MLP autoencoder, VAE, linear AE and a small GAN (notebooks 01-07).

Layer sizes and attribute names follow the lecture: encoder 784-100-50-2 (``linear1..3``),
decoder 2-50-100-784 with a sigmoid. For the VAE we fix one convention and keep it
everywhere: branch 1 (``linear1_1..linear3_1``, the lecture's g1) gives ``mu``; branch 2
(``linear1_2..linear3_2``, g2) gives ``log sigma``, and ``sigma = exp(log sigma)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .checks import check_codes, check_images  # the shape checks every forward runs

__all__ = ["check_codes", "check_images"]  # re-exported: they lived here before aelib.checks
HDIM = (100, 50)


class Encoder(nn.Module):
    """g: image -> code, 784-100-50-latent with ReLU (02_autoencoder)."""

    def __init__(self, latent_dims: int = 2, s_img: int = 28, hdim: Sequence[int] = HDIM):
        super().__init__()
        self.s_img, self.latent_dims = s_img, latent_dims
        self.linear1 = nn.Linear(s_img * s_img, hdim[0])
        self.linear2 = nn.Linear(hdim[0], hdim[1])
        self.linear3 = nn.Linear(hdim[1], latent_dims)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        x = check_images(x, self.s_img, type(self).__name__)  # (B, 1, 28, 28) -> (B, 784)
        x = self.relu(self.linear1(x))
        x = self.relu(self.linear2(x))
        return self.linear3(x)  # (B, latent_dims)


class Decoder(nn.Module):
    """h: code -> image, latent-50-100-784 with ReLU and a sigmoid output (02_autoencoder)."""

    def __init__(self, latent_dims: int = 2, s_img: int = 28, hdim: Sequence[int] = HDIM):
        super().__init__()
        self.s_img, self.latent_dims = s_img, latent_dims
        self.linear1 = nn.Linear(latent_dims, hdim[1])
        self.linear2 = nn.Linear(hdim[1], hdim[0])
        self.linear3 = nn.Linear(hdim[0], s_img * s_img)
        self.relu = nn.ReLU()
        self.sigmoid = nn.Sigmoid()

    def forward(self, z: Tensor) -> Tensor:
        z = check_codes(z, self.latent_dims, type(self).__name__)
        z = self.relu(self.linear1(z))
        z = self.relu(self.linear2(z))
        z = self.sigmoid(self.linear3(z))  # pixels in (0, 1), like the data
        return z.reshape(-1, 1, self.s_img, self.s_img)  # (B, 784) -> (B, 1, 28, 28)


class Autoencoder(nn.Module):
    """y = h(g(x)): the lecture's autoencoder, 168,086 parameters at latent 2 (02_autoencoder)."""

    def __init__(self, latent_dims: int = 2, s_img: int = 28, hdim: Sequence[int] = HDIM):
        super().__init__()
        self.encoder = Encoder(latent_dims, s_img, hdim)
        self.decoder = Decoder(latent_dims, s_img, hdim)

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))


class VarEncoder(nn.Module):
    """Two branches: g1(x) = mu and g2(x) = log sigma, each 784-100-50-latent (04_vae)."""

    def __init__(self, latent_dims: int = 2, s_img: int = 28, hdim: Sequence[int] = HDIM):
        super().__init__()
        self.s_img, self.latent_dims = s_img, latent_dims
        # branch 1, g1: the mean mu
        self.linear1_1 = nn.Linear(s_img * s_img, hdim[0])
        self.linear2_1 = nn.Linear(hdim[0], hdim[1])
        self.linear3_1 = nn.Linear(hdim[1], latent_dims)
        # branch 2, g2: the spread, as log sigma so that sigma = exp(.) is always positive
        self.linear1_2 = nn.Linear(s_img * s_img, hdim[0])
        self.linear2_2 = nn.Linear(hdim[0], hdim[1])
        self.linear3_2 = nn.Linear(hdim[1], latent_dims)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = check_images(x, self.s_img, type(self).__name__)  # (B, 1, 28, 28) -> (B, 784)
        mu = self.linear3_1(self.relu(self.linear2_1(self.relu(self.linear1_1(x)))))
        log_sigma = self.linear3_2(self.relu(self.linear2_2(self.relu(self.linear1_2(x)))))
        sigma = torch.exp(log_sigma)
        return mu, sigma  # each (B, latent_dims)


class VarAutoencoder(nn.Module):
    """The lecture's VAE, 251,738 parameters at latent 2 (04_variational_autoencoder).

    ``forward(x)`` returns ``(x_hat, mu, sigma)``. In training mode x_hat decodes a sample
    z = mu + sigma * zeta, zeta ~ N(0, I); in eval mode it decodes the mean, z = mu, so that
    reconstructions and codes are deterministic.
    """

    def __init__(self, latent_dims: int = 2, s_img: int = 28, hdim: Sequence[int] = HDIM):
        super().__init__()
        self.encoder = VarEncoder(latent_dims, s_img, hdim)
        self.decoder = Decoder(latent_dims, s_img, hdim)

    @staticmethod
    def reparameterize(mu: Tensor, sigma: Tensor) -> Tensor:
        """z = mu + sigma * zeta with zeta ~ N(0, I): differentiable in mu and sigma."""
        return mu + sigma * torch.randn_like(sigma)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mu, sigma = self.encoder(x)
        z = self.reparameterize(mu, sigma) if self.training else mu
        return self.decoder(z), mu, sigma

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Decode n codes drawn from the prior N(0, I)."""
        p = next(self.parameters())
        z = torch.randn(n, self.decoder.latent_dims, generator=generator).to(p.device)
        return self.decoder(z)


class LinearAutoencoder(nn.Module):
    """One linear layer each way, no activation: learns PCA's subspace (01_dimension_reduction)."""

    def __init__(self, latent_dims: int = 2, s_img: int = 28):
        super().__init__()
        self.s_img, self.latent_dims = s_img, latent_dims
        self.encoder = nn.Linear(s_img * s_img, latent_dims)
        self.decoder = nn.Linear(latent_dims, s_img * s_img)

    def encode(self, x: Tensor) -> Tensor:
        """Images -> codes (B, latent_dims)."""
        return self.encoder(check_images(x, self.s_img, type(self).__name__))

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encode(x)).reshape(-1, 1, self.s_img, self.s_img)


class Generator(nn.Module):
    """G: 2-D noise -> image, an MLP like the decoder but wider (07_gan_contrast)."""

    def __init__(self, latent_dims: int = 2, s_img: int = 28, hdim: Sequence[int] = (256, 128)):
        super().__init__()
        self.s_img, self.latent_dims = s_img, latent_dims
        self.linear1 = nn.Linear(latent_dims, hdim[1])
        self.linear2 = nn.Linear(hdim[1], hdim[0])
        self.linear3 = nn.Linear(hdim[0], s_img * s_img)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, z: Tensor) -> Tensor:
        z = check_codes(z, self.latent_dims, type(self).__name__)
        z = self.act(self.linear2(self.act(self.linear1(z))))
        return torch.sigmoid(self.linear3(z)).reshape(-1, 1, self.s_img, self.s_img)


class Discriminator(nn.Module):
    """D: image -> logit of "real" (apply a sigmoid for the probability) (07_gan_contrast)."""

    def __init__(self, s_img: int = 28, hdim: Sequence[int] = (256, 128)):
        super().__init__()
        self.s_img = s_img
        self.linear1 = nn.Linear(s_img * s_img, hdim[0])
        self.linear2 = nn.Linear(hdim[0], hdim[1])
        self.linear3 = nn.Linear(hdim[1], 1)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: Tensor) -> Tensor:
        x = check_images(x, self.s_img, type(self).__name__)
        x = self.act(self.linear2(self.act(self.linear1(x))))
        return self.linear3(x).squeeze(1)  # (B,) logits


class GAN(nn.Module):
    """A generator and a discriminator kept together, so one checkpoint holds both."""

    def __init__(self, latent_dims: int = 2, s_img: int = 28):
        super().__init__()
        self.generator = Generator(latent_dims, s_img)
        self.discriminator = Discriminator(s_img)

    def forward(self, z: Tensor) -> Tensor:
        return self.generator(z)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (what torchinfo reports as 'Trainable params')."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
