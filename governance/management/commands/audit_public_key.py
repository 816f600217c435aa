from django.core.management.base import BaseCommand

from governance.chain import key_id_of, public_key_pem


class Command(BaseCommand):
    help = "Prints the public key (SubjectPublicKeyInfo PEM) that signs audit checkpoints and evidence manifests."

    def handle(self, *args, **options):
        pem = public_key_pem()
        self.stdout.write(pem, ending="")
        self.stderr.write(f"key id {key_id_of(pem)}")
