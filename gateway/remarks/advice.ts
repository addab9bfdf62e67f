import type { Lang, Localized, RemarkKind } from './model.ts';

/**
 * What each remark says and what to do about it, in the languages of the people who read them
 * (site managers and payroll staff: French or Dutch; English for everyone else). The advice follows the
 * ONSS FAQ: nothing can be cancelled (34), only a wrong company or declaration number can be corrected,
 * within 30 days (35, 36), a forgotten OUT is never added afterwards (37).
 */

type Details = Record<string, unknown>;
type Text = (d: Details) => string;

interface RemarkTexts {
  message: Record<Lang, Text>;
  advice: Record<Lang, Text>;
}

const s = (v: unknown) => (v === undefined || v === null ? '' : String(v));

export const REMARK_TEXTS: Record<RemarkKind, RemarkTexts> = {
  'double-in': {
    message: {
      fr: (d) => `Deux IN de suite : IN à ${s(d.time)} alors qu'un IN de ${s(d.openTime)} était encore ouvert.`,
      nl: (d) => `Twee keer IN na elkaar: IN om ${s(d.time)} terwijl de IN van ${s(d.openTime)} nog open stond.`,
      en: (d) => `Two INs in a row: IN at ${s(d.time)} while the IN of ${s(d.openTime)} was still open.`,
    },
    advice: {
      fr: () => "Demandez au travailleur s'il a oublié un OUT (pause ou fin). Un enregistrement ne s'annule pas (FAQ 34) : rappelez-lui de badger OUT à chaque pause et à la fin, et notez l'explication dans votre suivi.",
      nl: () => 'Vraag de werknemer of hij een OUT (pauze of einde) vergat. Een registratie kan niet geannuleerd worden (FAQ 34): herinner hem eraan bij elke pauze en op het einde OUT te badgen en noteer de uitleg in uw opvolging.',
      en: () => 'Ask the worker whether an OUT (break or end) was forgotten. A registration cannot be cancelled (FAQ 34): remind them to badge OUT at every break and at the end, and note the explanation in your follow-up.',
    },
  },
  'out-without-in': {
    message: {
      fr: (d) => `OUT à ${s(d.time)} sans IN ouvert dans les ${s(d.windowHours)} heures qui précèdent.`,
      nl: (d) => `OUT om ${s(d.time)} zonder open IN in de ${s(d.windowHours)} uur ervoor.`,
      en: (d) => `OUT at ${s(d.time)} with no IN open in the ${s(d.windowHours)} hours before.`,
    },
    advice: {
      fr: () => "Le travailleur a probablement oublié son IN. Un IN oublié s'enregistre dès qu'on s'en aperçoit si le travail est en cours, jamais après la fin (FAQ 37). Vérifiez que le badge et le terminal fonctionnaient (journal des pannes) et rappelez la consigne.",
      nl: () => 'De werknemer vergat waarschijnlijk zijn IN. Een vergeten IN wordt geregistreerd zodra men het merkt als het werk nog bezig is, nooit na het einde (FAQ 37). Controleer of badge en terminal werkten (storingslogboek) en herhaal de instructie.',
      en: () => 'The worker probably forgot the IN. A forgotten IN is registered as soon as noticed while the work is still going on, never after it ended (FAQ 37). Check that the badge and terminal worked (outage journal) and repeat the instruction.',
    },
  },
  'missing-out': {
    message: {
      fr: (d) => `IN à ${s(d.time)} sans OUT : aucun OUT dans les ${s(d.windowHours)} heures ni avant la fin de la journée.`,
      nl: (d) => `IN om ${s(d.time)} zonder OUT: geen OUT binnen ${s(d.windowHours)} uur noch voor het einde van de dag.`,
      en: (d) => `IN at ${s(d.time)} without OUT: no OUT within ${s(d.windowHours)} hours nor before the end of the day.`,
    },
    advice: {
      fr: () => "Ne faites pas ajouter le OUT après coup : un OUT oublié ne s'enregistre pas plus tard (FAQ 37) et la remarque reste visible chez l'ONSS. Vérifiez que le terminal était en ligne ce jour-là et rappelez au travailleur de badger OUT en partant.",
      nl: () => 'Laat de OUT niet achteraf toevoegen: een vergeten OUT wordt niet later geregistreerd (FAQ 37) en de opmerking blijft zichtbaar bij de RSZ. Controleer of de terminal die dag online was en herinner de werknemer eraan OUT te badgen bij vertrek.',
      en: () => 'Do not have the OUT added afterwards: a forgotten OUT is never registered later (FAQ 37) and the remark stays visible at ONSS. Check that the terminal was online that day and remind the worker to badge OUT when leaving.',
    },
  },
  'unknown-badge': {
    message: {
      fr: (d) => `Badge inconnu ${s(d.badge)} présenté au terminal ${s(d.terminalId)} à ${s(d.time)} : aucun enregistrement n'a été fait.`,
      nl: (d) => `Onbekende badge ${s(d.badge)} aangeboden aan terminal ${s(d.terminalId)} om ${s(d.time)}: er werd niets geregistreerd.`,
      en: (d) => `Unknown badge ${s(d.badge)} presented at terminal ${s(d.terminalId)} at ${s(d.time)}: nothing was registered.`,
    },
    advice: {
      fr: () => "Identifiez le travailleur et attribuez-lui ce badge depuis ce passage (console, Enrôler). La remarque disparaît quand le badge est attribué. Ce passage-là ne peut pas être enregistré après coup : si le travail est encore en cours, le travailleur rebadge IN.",
      nl: () => 'Zoek uit welke werknemer het is en koppel de badge aan hem vanaf deze tik (console, Inschrijven). De opmerking verdwijnt zodra de badge gekoppeld is. Deze tik kan achteraf niet geregistreerd worden: is het werk nog bezig, dan badget de werknemer opnieuw IN.',
      en: () => 'Find out which worker it is and enrol the badge to them from this tap (console, Enrol). The remark disappears once the badge is enrolled. This tap cannot be registered afterwards: if the work is still going on, the worker badges IN again.',
    },
  },
  'revoked-badge': {
    message: {
      fr: (d) => `Badge révoqué ${s(d.badge)} présenté au terminal ${s(d.terminalId)} à ${s(d.time)} : aucun enregistrement n'a été fait.`,
      nl: (d) => `Ingetrokken badge ${s(d.badge)} aangeboden aan terminal ${s(d.terminalId)} om ${s(d.time)}: er werd niets geregistreerd.`,
      en: (d) => `Revoked badge ${s(d.badge)} presented at terminal ${s(d.terminalId)} at ${s(d.time)}: nothing was registered.`,
    },
    advice: {
      fr: () => "Remettez au travailleur un badge valide (ou réactivez celui-ci s'il a été révoqué par erreur) ; la remarque disparaît alors. Récupérez l'ancien badge s'il a été perdu puis retrouvé.",
      nl: () => 'Geef de werknemer een geldige badge (of activeer deze opnieuw als hij per vergissing ingetrokken werd); dan verdwijnt de opmerking. Neem de oude badge terug als hij verloren en teruggevonden werd.',
      en: () => 'Give the worker a valid badge (or reactivate this one if it was revoked by mistake); the remark then disappears. Collect the old badge if it was lost and found again.',
    },
  },
  'employer-not-on-declaration': {
    message: {
      fr: (d) => `L'employeur ${s(d.employerId)} ne figure pas sur la déclaration ${s(d.declaration)}${d.declarationKnown ? '' : ' (déclaration inconnue ici)'}.`,
      nl: (d) => `Werkgever ${s(d.employerId)} staat niet op aangifte ${s(d.declaration)}${d.declarationKnown ? '' : ' (aangifte hier onbekend)'}.`,
      en: (d) => `Employer ${s(d.employerId)} is not on declaration ${s(d.declaration)}${d.declarationKnown ? '' : ' (declaration unknown here)'}.`,
    },
    advice: {
      fr: () => "Après une reprise de contrat, le travailleur a peut-être choisi l'ancien employeur : demandez une correction du numéro d'entreprise à l'ONSS dans les 30 jours (FAQ 36). Si l'entreprise travaille réellement sur ce chantier, faites-la ajouter à la déclaration de travaux puis aux données du site.",
      nl: () => 'Na een overname van het contract koos de werknemer misschien de vorige werkgever: vraag binnen 30 dagen een verbetering van het ondernemingsnummer aan bij de RSZ (FAQ 36). Werkt de onderneming echt op deze werf, laat haar dan toevoegen aan de aangifte van werken en aan de werfgegevens.',
      en: () => 'After a contract takeover the worker may have chosen the previous employer: request a correction of the company number from ONSS within 30 days (FAQ 36). If the company really works on this site, have it added to the declaration of works and then to the site data.',
    },
  },
  'employer-choice-missing': {
    message: {
      fr: (d) => d.fromTap ? `Le travailleur a plusieurs employeurs pour ce chantier et n'en a choisi aucun au terminal ${s(d.terminalId)} à ${s(d.time)} : aucun enregistrement n'a été fait.` : `Le travailleur a plusieurs employeurs mais n'en a choisi aucun ; l'employeur ${s(d.employerId)} a été pris par défaut.`,
      nl: (d) => d.fromTap ? `De werknemer heeft meerdere werkgevers voor deze werf en koos er geen op terminal ${s(d.terminalId)} om ${s(d.time)}: er werd niets geregistreerd.` : `De werknemer heeft meerdere werkgevers maar koos er geen; werkgever ${s(d.employerId)} werd standaard genomen.`,
      en: (d) => d.fromTap ? `The worker has several employers for this site and chose none at terminal ${s(d.terminalId)} at ${s(d.time)}: nothing was registered.` : `The worker has several employers but chose none; employer ${s(d.employerId)} was taken by default.`,
    },
    advice: {
      fr: () => "Montrez au travailleur comment choisir son employeur sur le terminal (FAQ 5) ; s'il ne travaille ici que pour un seul employeur, retirez l'autre de la chaîne de la déclaration ou de sa fiche. La remarque disparaît dès qu'il badge avec un choix d'employeur sur ce chantier. Le passage manqué ne s'ajoute pas après coup (FAQ 37).",
      nl: () => 'Toon de werknemer hoe hij zijn werkgever op de terminal kiest (FAQ 5); werkt hij hier maar voor één werkgever, haal de andere dan uit de keten van de aangifte of uit zijn fiche. De opmerking verdwijnt zodra hij op deze werf badget met een werkgeverskeuze. De gemiste tik wordt achteraf niet toegevoegd (FAQ 37).',
      en: () => "Show the worker how to choose the employer on the terminal (FAQ 5); if they work here for one employer only, remove the other from the declaration's chain or from their record. The remark disappears once they badge with an employer choice on this site. The missed tap is not added afterwards (FAQ 37).",
    },
  },
  'tap-not-registered': {
    message: {
      fr: (d) => `Badge présenté au terminal ${s(d.terminalId)} à ${s(d.time)} sans enregistrement (${s(d.status)}) : ${s(d.detail)}.`,
      nl: (d) => `Badge aangeboden aan terminal ${s(d.terminalId)} om ${s(d.time)} zonder registratie (${s(d.status)}): ${s(d.detail)}.`,
      en: (d) => `Badge presented at terminal ${s(d.terminalId)} at ${s(d.time)} without a registration (${s(d.status)}): ${s(d.detail)}.`,
    },
    advice: {
      fr: () => "Les données du chantier étaient incomplètes : rattachez le terminal à un chantier, ajoutez la déclaration de travaux valable ce jour-là ou l'employeur du travailleur (ciao admin). La remarque disparaît quand les données sont complètes ; le passage manqué ne s'ajoute pas après coup (FAQ 21, 37).",
      nl: () => 'De werfgegevens waren onvolledig: koppel de terminal aan een werf, voeg de aangifte van werken toe die die dag geldig was, of de werkgever van de werknemer (ciao admin). De opmerking verdwijnt zodra de gegevens volledig zijn; de gemiste tik wordt achteraf niet toegevoegd (FAQ 21, 37).',
      en: () => "The site data was incomplete: attach the terminal to a site, add the declaration of works valid that day, or the worker's employer (ciao admin). The remark disappears once the data is complete; the missed tap is not added afterwards (FAQ 21, 37).",
    },
  },
  'clock-skew': {
    message: {
      fr: (d) => `L'horloge du terminal ${s(d.terminalId)} dérive de ${s(d.skewSeconds)} s (limite ${s(d.limitSeconds)} s).`,
      nl: (d) => `De klok van terminal ${s(d.terminalId)} wijkt ${s(d.skewSeconds)} s af (grens ${s(d.limitSeconds)} s).`,
      en: (d) => `Terminal ${s(d.terminalId)}'s clock is off by ${s(d.skewSeconds)} s (limit ${s(d.limitSeconds)} s).`,
    },
    advice: {
      fr: () => "Les heures d'enregistrement viennent de l'horloge du terminal : vérifiez sa synchronisation (réseau, NTP, pile de l'horloge). La remarque disparaît dès que le terminal rapporte une dérive sous la limite.",
      nl: () => 'De registratie-uren komen van de klok van de terminal: controleer de synchronisatie (netwerk, NTP, klokbatterij). De opmerking verdwijnt zodra de terminal een afwijking onder de grens meldt.',
      en: () => "Registration times come from the terminal's clock: check its synchronisation (network, NTP, clock battery). The remark disappears once the terminal reports a skew under the limit.",
    },
  },
  'late-transmission': {
    message: {
      fr: (d) => `${d.sentAt ? `Transmis à l'ONSS ${s(d.delayMinutes)} min après le badge` : `Pas encore transmis à l'ONSS après ${s(d.delayMinutes)} min`}${d.outage ? ` ; panne enregistrée : ${s(d.outage)}` : ' ; aucune panne enregistrée ne l\'explique'}.`,
      nl: (d) => `${d.sentAt ? `Aan de RSZ bezorgd ${s(d.delayMinutes)} min na het badgen` : `Nog niet aan de RSZ bezorgd na ${s(d.delayMinutes)} min`}${d.outage ? `; geregistreerde storing: ${s(d.outage)}` : '; geen geregistreerde storing verklaart dit'}.`,
      en: (d) => `${d.sentAt ? `Sent to ONSS ${s(d.delayMinutes)} min after the tap` : `Not yet sent to ONSS after ${s(d.delayMinutes)} min`}${d.outage ? `; recorded outage: ${s(d.outage)}` : '; no recorded outage explains it'}.`,
    },
    advice: {
      fr: () => "Une panne externe (internet, électricité, service de l'ONSS) est un cas de force majeure (FAQ 57-59) : gardez l'entrée du journal des pannes comme preuve. Sans panne enregistrée, vérifiez la connexion du terminal et de la passerelle. La remarque disparaît quand l'enregistrement est créé à l'ONSS et qu'une panne l'explique.",
      nl: () => 'Een externe storing (internet, elektriciteit, dienst van de RSZ) is overmacht (FAQ 57-59): bewaar de vermelding in het storingslogboek als bewijs. Zonder geregistreerde storing: controleer de verbinding van terminal en gateway. De opmerking verdwijnt zodra de registratie bij de RSZ aangemaakt is en een storing ze verklaart.',
      en: () => 'An external outage (internet, power, the ONSS service) is force majeure (FAQ 57-59): keep the outage journal entry as proof. With no recorded outage, check the terminal and gateway connection. The remark disappears once the registration is created at ONSS and an outage explains the delay.',
    },
  },
  'not-created-by-onss': {
    message: {
      fr: (d) => `L'ONSS n'a pas créé cet enregistrement : ${s(d.errors)}.`,
      nl: (d) => `De RSZ heeft deze registratie niet aangemaakt: ${s(d.errors)}.`,
      en: (d) => `ONSS did not create this registration: ${s(d.errors)}.`,
    },
    advice: {
      fr: () => "Lisez l'erreur : en général une donnée du site est fausse (numéro de déclaration, NISS du travailleur, numéro d'entreprise). Corrigez la donnée dans ciao admin pour les prochains badges ; un enregistrement refusé ne peut pas être recréé par l'employeur (FAQ 21). Contactez l'ONSS si l'erreur vous semble injustifiée.",
      nl: () => 'Lees de fout: meestal is een werfgegeven fout (aangiftenummer, INSZ van de werknemer, ondernemingsnummer). Verbeter het gegeven in ciao admin voor de volgende badges; een geweigerde registratie kan de werkgever niet opnieuw aanmaken (FAQ 21). Neem contact op met de RSZ als de fout onterecht lijkt.',
      en: () => 'Read the error: usually a site datum is wrong (declaration number, worker NISS, company number). Fix it in ciao admin for the next taps; an employer cannot recreate a refused registration (FAQ 21). Contact ONSS if the error looks unjustified.',
    },
  },
  'onss-remark': {
    message: {
      fr: (d) => `Remarque de l'ONSS : ${s(d.onssRemark)}.`,
      nl: (d) => `Opmerking van de RSZ: ${s(d.onssRemark)}.`,
      en: (d) => `Remark from ONSS: ${s(d.onssRemark)}.`,
    },
    advice: {
      fr: (d) => ONSS_REMARK_ADVICE[s(d.onssRemark)]?.fr ?? "Suivez la procédure de l'ONSS pour cette remarque (portail CIaO Management). Les remarques sont recalculées : elle disparaît quand la cause est réglée (FAQ 35).",
      nl: (d) => ONSS_REMARK_ADVICE[s(d.onssRemark)]?.nl ?? 'Volg de procedure van de RSZ voor deze opmerking (portaal CIaO Management). Opmerkingen worden herberekend: ze verdwijnt zodra de oorzaak opgelost is (FAQ 35).',
      en: (d) => ONSS_REMARK_ADVICE[s(d.onssRemark)]?.en ?? "Follow ONSS's procedure for this remark (CIaO Management portal). Remarks are recomputed: it disappears once its cause is resolved (FAQ 35).",
    },
  },
  'correction-deadline': {
    message: {
      fr: (d) => `Plus que ${s(d.daysLeft)} jour(s) pour demander la correction (jusqu'au ${s(d.until)} inclus).`,
      nl: (d) => `Nog ${s(d.daysLeft)} dag(en) om de verbetering aan te vragen (tot en met ${s(d.until)}).`,
      en: (d) => `${s(d.daysLeft)} day(s) left to request the correction (until ${s(d.until)} inclusive).`,
    },
    advice: {
      fr: () => "Si le numéro d'entreprise ou de déclaration est faux, préparez et envoyez la demande de correction maintenant (Corrections) : passé 30 jours, l'ONSS ne la prend plus (FAQ 35, 36).",
      nl: () => 'Is het ondernemings- of aangiftenummer fout, bereid dan nu de verbeteringsaanvraag voor en verstuur ze (Verbeteringen): na 30 dagen aanvaardt de RSZ ze niet meer (FAQ 35, 36).',
      en: () => 'If the company or declaration number is wrong, prepare and send the correction request now (Corrections): after 30 days ONSS no longer takes it (FAQ 35, 36).',
    },
  },
};

/** Specific advice for the remarks ONSS is publicly known to return. */
export const ONSS_REMARK_ADVICE: Record<string, Localized> = {
  'RELATED DIMONA NOT OK': {
    fr: "Aucune Dimona valable pour ce travailleur à cette date : faites vérifier ou introduire la Dimona par le service du personnel ; la remarque disparaît quand la Dimona est en ordre.",
    nl: 'Geen geldige Dimona voor deze werknemer op die datum: laat de personeelsdienst de Dimona nakijken of indienen; de opmerking verdwijnt zodra de Dimona in orde is.',
    en: 'No valid Dimona for this worker on that date: have payroll check or file the Dimona; the remark disappears once the Dimona is in order.',
  },
  'COMPANY IS NOT KNOWN AS BUILDER OR SUBCONTRACTOR IN THIS DUC': {
    fr: "L'entreprise n'est pas sur la déclaration de travaux : demandez une correction du numéro d'entreprise dans les 30 jours si le travailleur s'est trompé (FAQ 36), sinon faites ajouter le sous-traitant à la déclaration.",
    nl: 'De onderneming staat niet op de aangifte van werken: vraag binnen 30 dagen een verbetering van het ondernemingsnummer aan als de werknemer zich vergiste (FAQ 36), laat anders de onderaannemer aan de aangifte toevoegen.',
    en: 'The company is not on the declaration of works: request a correction of the company number within 30 days if the worker made a mistake (FAQ 36), otherwise have the subcontractor added to the declaration.',
  },
  'DUC IS NOT EXISTING': {
    fr: "Le numéro de déclaration n'existe pas : corrigez-le dans les données du site et demandez une correction du numéro de déclaration dans les 30 jours (FAQ 36).",
    nl: 'Het aangiftenummer bestaat niet: verbeter het in de werfgegevens en vraag binnen 30 dagen een verbetering van het aangiftenummer aan (FAQ 36).',
    en: 'The declaration number does not exist: fix it in the site data and request a correction of the declaration number within 30 days (FAQ 36).',
  },
  'DUC IS NOT ACTIVE AT THIS DATE': {
    fr: "La déclaration n'était pas active ce jour-là : vérifiez ses dates, et s'il fallait une autre déclaration (reprise de contrat), demandez une correction dans les 30 jours (FAQ 5, 36).",
    nl: 'De aangifte was die dag niet actief: controleer haar data, en was een andere aangifte van toepassing (overname), vraag dan binnen 30 dagen een verbetering aan (FAQ 5, 36).',
    en: 'The declaration was not active that day: check its dates, and if another declaration applied (contract takeover), request a correction within 30 days (FAQ 5, 36).',
  },
  'SAME DECLARATION HAS ALREADY BEEN REGISTERED': {
    fr: "L'ONSS a reçu ce passage deux fois. Rien ne s'annule (FAQ 34) : gardez la trace de l'incident (journal des pannes) pour un éventuel contrôle.",
    nl: 'De RSZ ontving deze tik twee keer. Niets kan geannuleerd worden (FAQ 34): bewaar het spoor van het incident (storingslogboek) voor een eventuele controle.',
    en: 'ONSS received this tap twice. Nothing can be cancelled (FAQ 34): keep the trace of the incident (outage journal) for a possible inspection.',
  },
  'NISS IS NOT KNOW IN THE NATIONAL REGISTER': {
    fr: "Le NISS du travailleur est inconnu : vérifiez-le sur sa carte d'identité ou son numéro BIS et corrigez la fiche du travailleur.",
    nl: 'Het INSZ van de werknemer is onbekend: controleer het op zijn identiteitskaart of zijn BIS-nummer en verbeter de werknemersfiche.',
    en: "The worker's NISS is unknown: check it on their identity card or BIS number and fix the worker's record.",
  },
  'EMPLOYER NOT ACTIVE': {
    fr: "L'employeur n'est pas actif à l'ONSS à cette date : vérifiez le numéro d'entreprise choisi et demandez une correction dans les 30 jours s'il est faux (FAQ 36).",
    nl: 'De werkgever is op die datum niet actief bij de RSZ: controleer het gekozen ondernemingsnummer en vraag binnen 30 dagen een verbetering aan als het fout is (FAQ 36).',
    en: 'The employer is not active at ONSS on that date: check the chosen company number and request a correction within 30 days if it is wrong (FAQ 36).',
  },
};

export function localize(kind: RemarkKind, details: Details): { message: Localized; advice: Localized } {
  const t = REMARK_TEXTS[kind];
  return {
    message: { fr: t.message.fr(details), nl: t.message.nl(details), en: t.message.en(details) },
    advice: { fr: t.advice.fr(details), nl: t.advice.nl(details), en: t.advice.en(details) },
  };
}
