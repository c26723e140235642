"""French wording of what the APIs answer, for people (the APIs speak problem+json to programs)."""

from __future__ import annotations

from citela_web.api_client import ApiError, FieldProblem

# By problem slug: what a citizen or an official reads instead of the API's detail.
SLUG_MESSAGES: dict[str, str] = {
    "unavailable": "Le service ne répond pas pour le moment. Réessayez dans quelques instants.",
    "validation": "Certains champs sont à corriger.",
    "invalid-credentials": "Adresse électronique ou mot de passe incorrect.",
    "email-not-confirmed": "Confirmez d'abord votre adresse électronique : "
    "un lien vous a été envoyé par courriel.",
    "email-taken": "Un compte existe déjà avec cette adresse électronique.",
    "unknown-territory": "Ce territoire ne fait pas partie de cette collectivité.",
    "unknown-tenant": "Cette collectivité n'existe pas sur Citéla.",
    "unknown-entry": "Ce service n'existe pas dans le catalogue de la collectivité.",
    "rate-limited": "Trop de tentatives en peu de temps. Patientez une minute puis réessayez.",
    "too-many-requests": "Trop de tentatives en peu de temps. Patientez une minute puis réessayez.",
    "unauthenticated": "Connectez-vous pour continuer.",
    "invalid-refresh-token": "Votre session a expiré : connectez-vous de nouveau.",
    "forbidden": "Vous n'avez pas accès à cette page.",
    "csrf": "Le formulaire a expiré ou ne vient pas de Citéla. Revenez à la page "
    "précédente, rechargez-la et envoyez de nouveau.",
    "invalid-confirmation": "Ce lien de confirmation n'est plus valable. Demandez-en un nouveau.",
    "invalid-cursor": "Cette page de résultats n'existe plus. Reprenez depuis la première.",
    "feedback-rejected": "Votre avis n'a pas pu être enregistré : corrigez les champs signalés.",
    "newer-feedback-exists": "Un avis plus récent existe déjà pour ce service : il reste "
    "votre avis actuel.",
    "idempotency-key-reused": "Ce formulaire a déjà été envoyé avec un autre contenu. "
    "Rechargez la page avant de recommencer.",
    "scores-not-public": "Cette collectivité ne publie pas les moyennes de ses services.",
    "unknown-feedback": "Cet avis n'existe pas ou a été retiré.",
    "unknown-service": "Ce service n'a pas encore d'avis dans la synthèse.",
    "unknown-area": "Ce domaine d'action publique n'a pas encore d'avis dans la synthèse.",
    "unknown-report": "Ce rapport n'existe pas (ou plus).",
    "report-not-ready": "Le rapport est en cours de préparation : la page se mettra à jour "
    "toute seule.",
    "unknown-app": "Cette application partenaire n'existe pas.",
    "unknown-key": "Cette clé d'API n'existe pas ou a déjà été révoquée.",
    "unknown-staff": "Cette personne ne fait pas partie des agents de la collectivité.",
    "unknown-run": "Cette collecte de données n'existe pas.",
    "tenant-exists": "Une collectivité existe déjà avec ce code.",
    "internal-error": "Une erreur inattendue est survenue de notre côté. Réessayez dans "
    "quelques instants.",
}

STATUS_MESSAGES: dict[int, str] = {
    400: "La demande n'a pas pu être comprise.",
    401: "Connectez-vous pour continuer.",
    403: "Vous n'avez pas accès à cette page.",
    404: "Page ou ressource introuvable.",
    409: "Cette action entre en conflit avec l'état actuel ; rechargez la page.",
    410: "Cette ressource a été supprimée.",
    413: "Le contenu envoyé est trop volumineux.",
    422: "Certains champs sont à corriger.",
    429: "Trop de tentatives en peu de temps. Patientez une minute puis réessayez.",
    502: "Le service ne répond pas pour le moment. Réessayez dans quelques instants.",
    503: "Le service ne répond pas pour le moment. Réessayez dans quelques instants.",
}

# By validation code (pydantic's error types and the services' own codes).
CODE_MESSAGES: dict[str, str] = {
    "missing": "Ce champ est obligatoire.",
    "string_too_short": "Ce texte est trop court.",
    "string_too_long": "Ce texte est trop long.",
    "greater_than_equal": "La valeur est trop petite.",
    "less_than_equal": "La valeur est trop grande.",
    "int_parsing": "Indiquez un nombre entier.",
    "value_error": "Cette valeur n'est pas acceptée.",
    "format": "Le format n'est pas reconnu.",
    "range": "La valeur est hors des limites.",
}

FIELD_MESSAGES: dict[str, str] = {
    "email": "Indiquez une adresse électronique valide (ex. : prenom.nom@exemple.fr).",
    "password": "Le mot de passe doit compter au moins 10 caractères.",
    "satisfaction": "Choisissez une note de satisfaction de 1 à 5.",
    "importance": "Choisissez une note d'importance de 1 à 5.",
    "comment": "Le commentaire ne respecte pas les règles de la collectivité.",
}


def problem_message(error: ApiError) -> str:
    """One French sentence for the whole problem."""
    if error.slug and error.slug in SLUG_MESSAGES:
        return SLUG_MESSAGES[error.slug]
    return STATUS_MESSAGES.get(error.status, "Une erreur inattendue est survenue. Réessayez.")


def field_message(problem: FieldProblem) -> str:
    name = problem.field.rsplit(".", 1)[-1]
    if problem.code in CODE_MESSAGES and problem.code not in ("value_error", "invalid"):
        base = CODE_MESSAGES[problem.code]
        return f"{base} {FIELD_MESSAGES[name]}" if name in FIELD_MESSAGES else base
    return FIELD_MESSAGES.get(name, CODE_MESSAGES.get(problem.code or "", "Valeur refusée."))


def field_messages(error: ApiError) -> dict[str, str]:
    """Per form field (without location prefix), the French message to show beside it."""
    out: dict[str, str] = {}
    for problem in error.errors:
        out.setdefault(problem.field.rsplit(".", 1)[-1], field_message(problem))
    return out
